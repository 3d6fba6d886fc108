// run(): `lookout ingest` as one call: opens the journal, watches DIR (one Watcher, its loop
// on a thread of its own through host::Host, which owns SIGINT and SIGTERM), lists what is
// already there, and feeds an Ingester in one poll(2) on the subscription, the handlers'
// pidfds and pipes, and the signals. Returns the exit code: 0 after a stop signal (running
// handlers were given stop_timeout), 1 when the journal could not be written; an Error when
// it cannot start (DIR missing, the journal unusable), which the caller words.
#pragma once

#include <cstdio>
#include <functional>

#include "ingest/ingest_options.h"
#include "lookout/result.h"

namespace lookout::ingest {

// `log`: lookout's own lines (stderr); `out`: --json lines (stdout). `on_diagnostic`: the
// engine's warnings, worded by the caller (it knows the flags).
Result<int> run(IngestOptions options, std::FILE* log, std::FILE* out,
                std::function<void(const Error&, bool fatal)> on_diagnostic);

}  // namespace lookout::ingest
