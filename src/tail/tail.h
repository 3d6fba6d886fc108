// run(): `lookout tail` as one call. Opens the state (--state), watches the directories the
// PATHs need (one Watcher, its loop on its own thread through host::Host, which owns SIGINT,
// SIGTERM and SIGHUP), lists the files already there and then reads what every selected
// file gains, in one poll(2) on the subscription and the signals. Offsets are committed
// after the output was flushed, every commit_every_ms or commit_lines lines, at the end and
// at a stop. When every root goes away (moved, deleted) the files still open are read to
// their end, and the roots are watched again once they exist again (as new files).
// Returns the exit code: 0 after a stop signal or, with --once, after reading everything
// new; an Error when it cannot start (a PATH, the state) or must stop (the output closed,
// the state could not be written), which the caller words.
#pragma once

#include <cstdio>
#include <functional>

#include "lookout/result.h"
#include "tail/tail_options.h"

namespace lookout::tail {

// `log`: lookout's own lines (stderr): READY, notes on truncation and skipped files.
// `on_diagnostic`: the engine's warnings, worded by the caller.
Result<int> run(TailOptions options, std::FILE* log,
                std::function<void(const Error&, bool fatal)> on_diagnostic);

}  // namespace lookout::tail
