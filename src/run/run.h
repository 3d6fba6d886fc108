// run(): `lookout run` as one call: watches the PATHs (one Watcher, its loop on a thread of
// its own through host::Host, which owns SIGINT and SIGTERM), feeds a Runner and waits in one
// poll(2) on the subscription, the child's pidfd and the signals. Returns the exit code:
// 0 after a stop signal, the action's status with --once; an Error when watching cannot
// start (a missing PATH, the watch limit, ...), which the caller words.
#pragma once

#include <cstdio>
#include <functional>

#include "lookout/result.h"
#include "run/run_options.h"

namespace lookout::run {

// `log`: where lookout's own lines go (stderr). `on_diagnostic`: the engine's warnings,
// worded by the caller (it knows the flags).
Result<int> run(RunOptions options, std::FILE* log,
                std::function<void(const Error&, bool fatal)> on_diagnostic);

}  // namespace lookout::run
