// run(): `lookout sync` as one call: checks rsync, the source and the targets, takes the
// --state directory's lock, watches SOURCE (one Watcher, its loop on a thread of its own
// through host::Host, which owns SIGINT, SIGTERM and SIGHUP) and drives a Syncer in one
// poll(2) on the subscription, the rsync children's pidfds and the signals. SIGHUP asks for a
// verify pass. Returns the exit code: 0 after SIGINT/SIGTERM (running transfers stopped, what
// they held recorded as unconfirmed); with --once 0 when every target got its pass, 1 when
// one failed; 1 when the state could not be written. An Error when it cannot start (rsync
// missing or too old, SOURCE missing, a bad target or password file, the state locked),
// which the caller prints.
#pragma once

#include <cstdio>
#include <functional>

#include "lookout/result.h"
#include "sync/sync_options.h"

namespace lookout::sync {

// `log`: lookout's own lines (stderr); `out`: --json lines (stdout). `on_diagnostic`: the
// engine's warnings, worded by the caller (it knows the flags).
Result<int> run(SyncOptions options, std::FILE* log, std::FILE* out,
                std::function<void(const Error&, bool fatal)> on_diagnostic);

}  // namespace lookout::sync
