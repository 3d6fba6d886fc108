// The outputs of `lookout stats`: inotifywatch's table (same header, columns, widths and
// order, so scripts that parse inotifywatch's output keep working), JSON Lines, and the
// summary for stderr. Pure formatting of a Tally; thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stats/tally.h"

namespace lookout::stats {

struct TableOptions {
  ColumnMask columns = kAllColumns;  // the columns asked for (-e)
  bool zero = false;                 // -z: rows and columns that are all zero too
  // Sort by this column (nullopt: by total), descending unless `ascending` (-a/-d).
  std::optional<Column> sort_by;
  bool ascending = false;
  std::size_t top = 0;               // --top N: the N first rows only (0: all)
  // A row key (absolute) as the user spelled the root (inotifywatch prints "t/e/").
  std::function<std::string(const std::string&)> display;
};

// The rows to show, sorted, with their displayed names. Ties keep name order.
struct ShownRow {
  std::string name;
  const Row* row;
};
std::vector<ShownRow> shown_rows(const Tally& tally, const TableOptions& opt);

// inotifywatch's table; empty when no event was counted (inotifywatch then says "No events
// occurred." on stderr).
std::string format_table(const Tally& tally, const TableOptions& opt);

// One JSON object per shown row ({"path","total","events":{name:count}}), then one with
// the totals, the duration, rescans and backends.
std::string format_json(const Tally& tally, const TableOptions& opt, double duration_s);

// The lines for stderr: duration and total, rescans by reason (an overflow said as such),
// the backend decisions, and the events per second of the busiest rows.
std::string format_summary(const Tally& tally, const TableOptions& opt, double duration_s);

}  // namespace lookout::stats
