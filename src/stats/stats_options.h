// StatsOptions: everything `lookout stats` is asked to do, as plain data, so that the command
// line and (later) a daemon job fill the same struct.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lookout/watcher.h"
#include "stats/tally.h"

namespace lookout::stats {

struct StatsOptions {
  // The engine's options (backend, polling, filters); `watch.paths` are the roots, absolute
  // or as given, and `watch.events` is set from `columns` by stats::run.
  WatchOptions watch;
  // (absolute root, as the user spelled it), for rows named as inotifywatch names them.
  std::vector<std::pair<std::string, std::string>> spelled_roots;
  ColumnMask columns = kAllColumns;  // -e
  int timeout_s = 0;                 // -t: 0 = until INT/TERM
  double interval_s = 0;             // --interval: print a table this often (0: at the end)
  std::optional<Column> sort_by;     // -a/-d COLUMN (nullopt: total)
  bool ascending = false;            // -a
  bool zero = false;                 // -z
  bool json = false;
  std::size_t top = 0;
  bool per_file = false;             // --files
  bool quiet = false;                // -q: no "Establishing watches..." lines, no summary
};

}  // namespace lookout::stats
