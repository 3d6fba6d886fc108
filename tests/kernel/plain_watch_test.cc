// The behaviour suite's rows for watches without -r and for a single file, on every backend
// and filesystem (see kernel/behaviour.h). A directory watched without -r reports changes to
// its own entries, including those that existed before start (inotifywait does), and nothing
// from below its subdirectories; a file watched directly reports its own changes and ends
// when it is deleted or replaced, as inotify's DELETE_SELF for the watched inode says.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kernel/behaviour.h"

namespace lookout {
namespace {

using namespace behaviour;  // NOLINT: the suite's fixture and helpers

// True when `path` is strictly below `dir`.
bool below(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() + 1 && path.compare(0, dir.size() + 1, dir + "/") == 0;
}

// Nothing was reported about anything below `dir` (its own entry may be).
void expect_nothing_below(Recorder& r, const std::string& dir) {
  for (const auto& e : r.events()) {
    EXPECT_FALSE(below(e.path, dir) || below(e.from, dir)) << "reported below " << dir << ":\n" << r.dump();
  }
}

TEST_P(Behaviour, NonRecursiveReportsEntriesThatExistedAtStart) {
  TempDir t(base());
  testing::write_file(t / "old", "1");
  testing::write_file(t / "c", "1");
  testing::write_file(t / "doomed", "1");
  testing::make_dirs(t / "sub/deeper");
  testing::write_file(t / "sub/deep", "1");
  WatchOptions o = opts_for(t.path());
  o.recursive = false;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::append_file(t / "old", "more");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "old")) << r.dump();
  if (!polling()) ASSERT_TRUE(r.wait_for(EventKind::close_write, t / "old")) << r.dump();
  ASSERT_EQ(::chmod((t / "old").c_str(), 0600), 0);
  ASSERT_TRUE(r.wait_for(EventKind::attrib, t / "old")) << r.dump();
  testing::rename_path(t / "c", t / "c2");
  ASSERT_TRUE(r.wait_for(EventKind::rename, t / "c2", t / "c")) << r.dump();
  ASSERT_EQ(::unlink((t / "doomed").c_str()), 0);
  ASSERT_TRUE(r.wait_for(EventKind::remove, t / "doomed")) << r.dump();
  // A subdirectory's own attributes are its parent's entry's; what it holds is not watched.
  ASSERT_EQ(::chmod((t / "sub").c_str(), 0700), 0);
  ASSERT_TRUE(r.wait_for(EventKind::attrib, t / "sub")) << r.dump();
  testing::append_file(t / "sub/deep", "x");
  testing::write_file(t / "sub/new", "x");
  testing::make_dirs(t / "sub/deeper/still");
  ::unlink((t / "sub/deep").c_str());
  // New entries of the root are reported; a new subdirectory's contents are not.
  testing::make_dirs(t / "newdir/inner");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "newdir")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  expect_nothing_below(r, t / "sub");
  expect_nothing_below(r, t / "newdir");
}

// An overflow (or any rescan) of a non-recursive root diffs its entries only: it must not
// report what the subdirectories hold as created.
TEST_P(Behaviour, NonRecursiveRescanStaysAtTheRootsEntries) {
  TempDir t(base());
  testing::write_file(t / "keep", "1");
  testing::write_file(t / "gone", "1");
  testing::make_dirs(t / "sub/a");
  testing::write_file(t / "sub/a/f", "1");
  WatchOptions o = opts_for(t.path());
  o.recursive = false;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  Recorder r(*w);
  // Changed before the watcher reads anything; the rescan runs before the queue is read.
  ::unlink((t / "gone").c_str());
  testing::write_file(t / "new", "1");
  testing::write_file(t / "sub/a/g", "1");
  w->rescan_now("test");
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  EXPECT_GE(r.count(EventKind::remove, t / "gone"), 1u) << r.dump();
  EXPECT_GE(r.count(EventKind::create, t / "new"), 1u) << r.dump();
  EXPECT_EQ(r.count(EventKind::remove, t / "keep"), 0u) << r.dump();
  expect_nothing_below(r, t / "sub");
  // Still watching the root's entries afterwards.
  testing::append_file(t / "keep", "2");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "keep")) << r.dump();
}

TEST_P(Behaviour, SingleFileReportsItsChangesAndNotItsNeighbours) {
  TempDir t(base());
  testing::write_file(t / "f", "1");
  testing::write_file(t / "neighbour", "1");
  WatchOptions o = opts_for(t / "f");
  o.recursive = false;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::append_file(t / "f", "2");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "f")) << r.dump();
  if (!polling()) ASSERT_TRUE(r.wait_for(EventKind::close_write, t / "f")) << r.dump();
  ASSERT_EQ(::chmod((t / "f").c_str(), 0600), 0);
  ASSERT_TRUE(r.wait_for(EventKind::attrib, t / "f")) << r.dump();
  testing::append_file(t / "neighbour", "2");
  testing::write_file(t / "other", "2");
  // No cookie inside a file: a second change of the file itself stands in for one.
  testing::append_file(t / "f", "3");
  r.clear();
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "f")) << r.dump();
  for (const auto& e : r.events()) EXPECT_EQ(e.path, t / "f") << r.dump();
}

// An atomic save (a new file renamed over the watched one) ends the watch of the old file on
// every backend, as inotify's DELETE_SELF does; so does deleting it.
TEST_P(Behaviour, SingleFileReplacedOrDeletedEndsWatching) {
  for (bool replace : {true, false}) {
    SCOPED_TRACE(replace ? "replaced" : "deleted");
    TempDir t(base());
    testing::write_file(t / "f", "1");
    WatchOptions o = opts_for(t / "f");
    o.recursive = false;
    auto w = testing::start_watcher(o);
    ASSERT_TRUE(w);
    Recorder r(*w);
    if (replace) {
      testing::write_file(t / "f.tmp", "2");
      testing::rename_path(t / "f.tmp", t / "f");
    } else {
      ASSERT_EQ(::unlink((t / "f").c_str()), 0);
    }
    ASSERT_TRUE(r.wait_for(EventKind::remove, t / "f")) << r.dump();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (w->step(20) && std::chrono::steady_clock::now() < deadline) {
    }
    EXPECT_EQ(w->end_reason().code, ErrorCode::root_gone) << w->end_reason().message;
    EXPECT_EQ(r.count(EventKind::create, t / "f"), 0u) << r.dump();
  }
}

}  // namespace
}  // namespace lookout

namespace lookout {
namespace {

using namespace behaviour;  // NOLINT

// A write through one name of a hard-linked file changes what every name holds: each name
// inside the tree is reported, not only the one written through (the kernel says only that).
TEST_P(Behaviour, HardLinkedWriteIsReportedForEveryName) {
  TempDir t(base());
  TempDir outside(base());
  testing::make_dirs(t / "sub");
  testing::write_file(t / "a", "1");
  ASSERT_EQ(::link((t / "a").c_str(), (t / "sub/b").c_str()), 0);
  ASSERT_EQ(::link((t / "a").c_str(), (outside / "o").c_str()), 0);
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  ASSERT_TRUE(wait_crawled(r, *w));
  testing::append_file(t / "a", "2");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "a")) << r.dump();
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "sub/b")) << r.dump();
  if (!polling()) ASSERT_TRUE(r.wait_for(EventKind::close_write, t / "sub/b")) << r.dump();
  // A link made later, inside the tree, is one more name.
  ASSERT_EQ(::link((t / "a").c_str(), (t / "c").c_str()), 0);
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "c")) << r.dump();
  r.clear();
  testing::append_file(t / "sub/b", "3");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "c")) << r.dump();
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "a")) << r.dump();
  // Written through the name outside: no watch of the tree sees that; the name that arrives
  // at a new place in the tree is compared and reported changed (polling sees it anyway).
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  r.clear();
  testing::append_file(outside / "o", "4444");
  testing::rename_path(t / "sub/b", t / "sub/b2");
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>& evs) {
    for (const auto& e : evs) {
      if (e.kind == EventKind::modify && (e.path == t / "sub/b2" || e.path == t / "sub/b")) return true;
    }
    return false;
  })) << r.dump();
}

}  // namespace
}  // namespace lookout
