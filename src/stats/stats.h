// run(): `lookout stats` as one call: watches the roots (one Watcher, its loop on a thread of
// its own through host::Host, which owns SIGINT, SIGTERM, SIGHUP and SIGUSR1), counts every
// event of an uncoalesced subscription into a Tally, and prints the table (or JSON) at the
// end, at -t's deadline, every --interval and at each SIGUSR1 (as inotifywatch does). Returns the exit code: 0, or an Error when watching
// cannot start (a missing path, the watch limit, ...), which the caller words.
#pragma once

#include <cstdio>
#include <functional>

#include "lookout/result.h"
#include "stats/stats_options.h"

namespace lookout::stats {

// `out`: the table or JSON; `log`: inotifywatch's progress lines and the summary (stderr).
Result<int> run(StatsOptions options, std::FILE* out, std::FILE* log,
                std::function<void(const Error&, bool fatal)> on_diagnostic);

// The Event kinds the engine must report for these columns.
EventMask kinds_for_columns(ColumnMask columns);

}  // namespace lookout::stats
