// "What changed while I was not running": a saved model diffed against a fresh crawl.
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_dirs.h"

namespace lookout {
namespace {

using testing::TempDir;

std::unique_ptr<Watcher> with_state(const std::string& root, const std::string& state) {
  WatchOptions o;
  o.paths = {root};
  o.state_file = state;
  return testing::start_watcher(o);
}

std::vector<Event> drain(Watcher& w) {
  std::vector<Event> out;
  w.next_batch(out, 0);
  return out;
}

bool has(const std::vector<Event>& evs, EventKind k, const std::string& path, const std::string& from = {}) {
  for (auto& e : evs)
    if (e.kind == k && e.path == path && (from.empty() || e.from == from)) return true;
  return false;
}

TEST(StateFile, ReportsChangesMadeWhileStopped) {
  TempDir t, s;
  testing::make_dirs(t / "dir/sub");
  testing::write_file(t / "dir/sub/f", "1");
  testing::write_file(t / "gone", "1");
  testing::write_file(t / "edit", "1");
  {
    auto w = with_state(t.path(), s / "state");
    ASSERT_TRUE(w);
    auto first = drain(*w);
    ASSERT_EQ(first.size(), 1u);  // no state yet: say so
    EXPECT_EQ(first[0].kind, EventKind::rescan);
    EXPECT_EQ(first[0].reason, "fresh");
    ASSERT_TRUE(w->save_state());
  }
  testing::rename_path(t / "dir", t / "renamed");
  ::unlink((t / "gone").c_str());
  testing::append_file(t / "edit", "more");
  testing::make_dirs(t / "new/deep");
  testing::write_file(t / "new/deep/x", "x");
  auto w = with_state(t.path(), s / "state");
  ASSERT_TRUE(w);
  auto evs = drain(*w);
  std::string all;
  for (auto& e : evs) all += std::string(event_kind_name(e.kind)) + " " + e.path + "\n";
  EXPECT_TRUE(has(evs, EventKind::rename, t / "renamed", t / "dir")) << all;
  EXPECT_TRUE(has(evs, EventKind::remove, t / "gone")) << all;
  EXPECT_TRUE(has(evs, EventKind::modify, t / "edit")) << all;
  EXPECT_TRUE(has(evs, EventKind::create, t / "new/deep/x")) << all;
  EXPECT_EQ(evs.size(), 6u) << all;  // rename, delete, modify, 3 creates
  // And it continues live.
  testing::Recorder r(*w);
  testing::write_file(t / "renamed/sub/live", "y");
  EXPECT_TRUE(r.wait_for(EventKind::create, t / "renamed/sub/live"));
}

TEST(StateFile, CorruptOrForeignStateMeansFreshRescan) {
  TempDir t, other, s;
  {
    auto w = with_state(other.path(), s / "state");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->save_state());
  }
  auto w = with_state(t.path(), s / "state");  // a state of another tree
  ASSERT_TRUE(w);
  auto evs = drain(*w);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, "fresh");
  w.reset();
  std::ofstream(s / "state", std::ios::trunc) << "LOOKOUT-STATE\ngarbage";
  auto w2 = with_state(t.path(), s / "state");
  ASSERT_TRUE(w2);
  evs = drain(*w2);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, "fresh");
}

}  // namespace
}  // namespace lookout
