// Tally: `lookout stats`' counts, per row, of the events inotifywatch counts: a row is a
// watched directory (an entry's event counts on the directory holding it, a directory's own
// open/read/attrib also on its own row, as inotify reports it on both watches), or with
// per-file rows the entry itself. Rows follow renames: after `mv t/d t/e` every count made
// under t/d, before and after, is t/e's. Rescans, overflows and backend decisions are
// counted beside the table. Pure (no I/O, no clock); not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lookout/event.h"

namespace lookout::stats {

// inotifywatch's columns, in its order.
enum class Column : std::uint8_t {
  access, modify, attrib, close_write, close_nowrite, open, moved_from, moved_to, move_self,
  create, remove, delete_self, unmount,
};
inline constexpr std::size_t kColumns = 13;
// The column names as inotifywatch prints them ("delete" for remove).
extern const std::array<const char*, kColumns> kColumnNames;
using ColumnMask = std::uint32_t;
constexpr ColumnMask column_bit(Column c) { return 1u << static_cast<unsigned>(c); }
inline constexpr ColumnMask kAllColumns = (1u << kColumns) - 1;

struct Row {
  std::array<std::uint64_t, kColumns> hits{};
  std::uint64_t total = 0;
};

struct TallyOptions {
  std::vector<std::string> roots;  // absolute paths of the watched roots, as events carry them
  ColumnMask columns = kAllColumns;  // what is counted (-e)
  bool per_file = false;  // --files: one row per entry instead of per directory
};

class Tally {
 public:
  explicit Tally(TallyOptions options);

  void count(const Event& e);
  // A row that exists even with no events (-z lists every watched directory).
  void add_row(const std::string& key);

  // Row keys: a directory row is its absolute path with a trailing '/' ("/" for the root
  // directory); a file row (a file root, or --files) is its path.
  const std::map<std::string, Row>& rows() const { return rows_; }
  std::uint64_t total() const { return total_; }
  std::uint64_t column_total(Column c) const { return column_totals_[static_cast<std::size_t>(c)]; }
  // Rescans by reason ("overflow", "lagged", ...).
  const std::map<std::string, std::uint64_t>& rescans() const { return rescans_; }
  // The backend of each root and mount (path, reason): the engine's decisions, and for a root
  // with none inotify (the engine announces only the other choices).
  std::vector<std::pair<std::string, std::string>> backends() const;

 private:
  bool is_root(const std::string& path) const;
  std::string dir_row(const std::string& dir) const;
  // The row of the directory holding `path` (its own row when it is a root).
  std::string holder_row(const std::string& path, bool is_dir) const;
  void hit(const std::string& row, Column c);
  void move_rows(const std::string& from, const std::string& to, bool is_dir);

  TallyOptions opt_;
  std::map<std::string, Row> rows_;
  std::array<std::uint64_t, kColumns> column_totals_{};
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t> rescans_;
  std::vector<std::pair<std::string, std::string>> backends_;
};

}  // namespace lookout::stats
