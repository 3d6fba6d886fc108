// stats::Tally and its table: rows as inotifywatch keeps them (an entry's event on the
// directory holding it, a directory's own change on both rows), rows that follow renames,
// and the table in inotifywatch's exact layout. Pure: events are made by hand.
#include <gtest/gtest.h>

#include "stats/table.h"
#include "stats/tally.h"

namespace lookout::stats {
namespace {

Event ev(EventKind k, const std::string& path, bool is_dir = false, const std::string& from = {},
         const std::string& reason = {}) {
  Event e;
  e.kind = k;
  e.path = path;
  e.is_dir = is_dir;
  e.from = from;
  e.reason = reason;
  return e;
}

std::uint64_t at(const Tally& t, const std::string& row, Column c) {
  auto it = t.rows().find(row);
  return it == t.rows().end() ? 0 : it->second.hits[static_cast<std::size_t>(c)];
}

TEST(StatsTally, AnEntrysEventCountsOnItsDirectoryAndADirectorysOwnChangeOnBoth) {
  Tally t({{"/w/t"}, kAllColumns, false});
  t.count(ev(EventKind::create, "/w/t/a"));
  t.count(ev(EventKind::modify, "/w/t/d/b"));
  t.count(ev(EventKind::attrib, "/w/t/d", true));      // chmod t/d: t/ and t/d/ both see it
  t.count(ev(EventKind::attrib, "/w/t", true));        // the root's own: its row only
  t.count(ev(EventKind::remove, "/w/t/x", false, {}, "moved_out"));
  t.count(ev(EventKind::create, "/w/t/y", false, {}, "moved_in"));
  EXPECT_EQ(at(t, "/w/t/", Column::create), 1u);
  EXPECT_EQ(at(t, "/w/t/d/", Column::modify), 1u);
  EXPECT_EQ(at(t, "/w/t/", Column::attrib), 2u);
  EXPECT_EQ(at(t, "/w/t/d/", Column::attrib), 1u);
  EXPECT_EQ(at(t, "/w/t/", Column::moved_from), 1u);
  EXPECT_EQ(at(t, "/w/t/", Column::moved_to), 1u);
  EXPECT_EQ(t.rows().at("/w/t/").total, 5u);
  EXPECT_EQ(t.total(), 7u);
}

// inotifywatch keeps counting t/d's watch under its old name; lookout's rows follow the
// rename: what was counted under t/d/ before it, and what comes after, is one row t/e/.
TEST(StatsTally, RowsFollowADirectoryRenameWithEverythingBelowIt) {
  Tally t({{"/w/t"}, kAllColumns, false});
  t.count(ev(EventKind::modify, "/w/t/d/b"));
  t.count(ev(EventKind::modify, "/w/t/d/sub/c"));
  t.count(ev(EventKind::rename, "/w/t/e", true, "/w/t/d"));
  t.count(ev(EventKind::move_self, "/w/t/e", true));
  t.count(ev(EventKind::modify, "/w/t/e/b"));
  EXPECT_EQ(t.rows().count("/w/t/d/"), 0u);
  EXPECT_EQ(t.rows().count("/w/t/d/sub/"), 0u);
  EXPECT_EQ(at(t, "/w/t/e/", Column::modify), 2u);
  EXPECT_EQ(at(t, "/w/t/e/", Column::move_self), 1u);
  EXPECT_EQ(at(t, "/w/t/e/sub/", Column::modify), 1u);
  EXPECT_EQ(at(t, "/w/t/", Column::moved_from), 1u);
  EXPECT_EQ(at(t, "/w/t/", Column::moved_to), 1u);
  // A sibling whose name starts the same is not under it.
  t.count(ev(EventKind::modify, "/w/t/ee/x"));
  t.count(ev(EventKind::rename, "/w/t/f", true, "/w/t/e"));
  EXPECT_EQ(at(t, "/w/t/ee/", Column::modify), 1u);
  EXPECT_EQ(at(t, "/w/t/f/", Column::modify), 2u);
}

TEST(StatsTally, OnlyTheAskedColumnsCountAndRescansAreCountedBeside) {
  Tally t({{"/w"}, column_bit(Column::modify), false});
  t.count(ev(EventKind::create, "/w/a"));
  t.count(ev(EventKind::modify, "/w/a"));
  t.count(ev(EventKind::rescan, "/w", true, {}, "overflow"));
  EXPECT_EQ(t.total(), 1u);
  EXPECT_EQ(t.rescans().at("overflow"), 1u);
}

TEST(StatsTally, PerFileRowsAndAFileRoot) {
  Tally files({{"/w"}, kAllColumns, true});
  files.count(ev(EventKind::modify, "/w/a"));
  files.count(ev(EventKind::modify, "/w/a"));
  files.count(ev(EventKind::rename, "/w/b", false, "/w/a"));
  EXPECT_EQ(at(files, "/w/b", Column::modify), 2u);
  EXPECT_EQ(at(files, "/w/b", Column::moved_to), 1u);
  EXPECT_EQ(at(files, "/w/a", Column::moved_from), 0u);  // moved with its row
  Tally root({{"/w/f"}, kAllColumns, false});
  root.count(ev(EventKind::modify, "/w/f"));
  EXPECT_EQ(at(root, "/w/f", Column::modify), 1u);
}

// The layout of inotifywatch 3.22: "%-5u  " for total, each column as wide as its name plus
// two spaces, only columns with a count (unless -z), rows by total descending, the name last.
TEST(StatsTable, InotifywatchLayout) {
  Tally t({{"/w/t"}, kAllColumns, false});
  for (int i = 0; i < 123456; ++i) t.count(ev(EventKind::modify, "/w/t/big"));
  t.count(ev(EventKind::create, "/w/t/e/c"));
  t.count(ev(EventKind::attrib, "/w/t/e/c"));
  TableOptions o;
  o.display = [](const std::string& key) { return "t" + key.substr(4); };
  EXPECT_EQ(format_table(t, o),
            "total  modify  attrib  create  filename\n"
            "123456  123456  0       0       t/\n"
            "2      0       1       1       t/e/\n");
  o.sort_by = Column::create;
  o.top = 1;
  EXPECT_EQ(format_table(t, o),
            "total  modify  attrib  create  filename\n"
            "2      0       1       1       t/e/\n");
  o.sort_by.reset();
  o.top = 0;
  o.ascending = true;
  EXPECT_EQ(format_table(t, o),
            "total  modify  attrib  create  filename\n"
            "2      0       1       1       t/e/\n"
            "123456  123456  0       0       t/\n");
  Tally none({{"/w"}, kAllColumns, false});
  EXPECT_EQ(format_table(none, o), "");
}

TEST(StatsTable, ZeroKeepsEmptyRowsAndColumns) {
  Tally t({{"/w"}, column_bit(Column::modify) | column_bit(Column::create), false});
  t.add_row("/w/");
  t.add_row("/w/quiet/");
  t.count(ev(EventKind::modify, "/w/a"));
  TableOptions o;
  o.columns = column_bit(Column::modify) | column_bit(Column::create);
  o.zero = true;
  EXPECT_EQ(format_table(t, o),
            "total  modify  create  filename\n"
            "1      1       0       /w/\n"
            "0      0       0       /w/quiet/\n");
}

TEST(StatsJson, RowsThenTotalsWithRescansAndOddNames) {
  Tally t({{"/w"}, kAllColumns, false});
  t.count(ev(EventKind::modify, "/w/bad\xff/x"));
  t.count(ev(EventKind::rescan, "/w", true, {}, "overflow"));
  TableOptions o;
  const std::string j = format_json(t, o, 2.5);
  EXPECT_NE(j.find("\"path\":\"/w/bad\xEF\xBF\xBD/\",\"path_b64\":"), std::string::npos) << j;
  EXPECT_NE(j.find("\"total\":1,\"events\":{\"modify\":1}}"), std::string::npos) << j;
  EXPECT_NE(j.find("\"duration_s\":2.500,\"rescans\":{\"overflow\":1}"), std::string::npos) << j;
  EXPECT_NE(format_summary(t, o, 2.5).find("overflow 1"), std::string::npos);
}

}  // namespace
}  // namespace lookout::stats
