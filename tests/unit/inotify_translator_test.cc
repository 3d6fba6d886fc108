// What inotify events mean, without a kernel: a FakeFs holds the tree, a FakeInotify plays
// the kernel's queue (the events a change raises are queued by the test, in the kernel's
// order), a FakeClock the time. step() is driven by hand; events come out of the log.
#include <gtest/gtest.h>
#include <sys/inotify.h>

#include <algorithm>

#include "support/engine_fixture.h"
#include "support/fake_inotify.h"

namespace lookout {
namespace {

using testing::EngineFixture;
using testing::FakeInotify;
using testing::Seen;

class InotifyTranslator : public EngineFixture {
 protected:
  InotifyTranslator() : EngineFixture(BackendChoice::inotify) {}
  void start() {
    // What start() said is dropped (nothing, for inotify without a state file).
    start_with(core::WatcherSeams{&clock, &fs, &kernel, &waiter}, 0);
  }

  FakeInotify kernel{fs};
};

TEST_F(InotifyTranslator, StartWatchesEveryDirectoryAndReportsNothing) {
  fs.mkdir("/w/a/b");
  fs.write("/w/a/f");
  start();
  EXPECT_GE(kernel.wd("/w"), 1);
  EXPECT_GE(kernel.wd("/w/a"), 1);
  EXPECT_GE(kernel.wd("/w/a/b"), 1);
  EXPECT_EQ(kernel.wd("/w/a/f"), -1);
  EXPECT_EQ(w->model.size(), 4u);
  EXPECT_TRUE(step().empty());
  EXPECT_EQ(fs.open_fds(), 0u);
}

TEST_F(InotifyTranslator, CreateModifyDelete) {
  start();
  fs.write("/w/f");
  kernel.queue("/w", IN_CREATE, "f");
  fs.write("/w/f", 10);
  kernel.queue("/w", IN_MODIFY, "f");
  kernel.queue("/w", IN_CLOSE_WRITE, "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/f", ""},
                                       {EventKind::modify, "/w/f", ""},
                                       {EventKind::close_write, "/w/f", ""}}));
  EXPECT_EQ(w->model.stat(w->model.find_path("/w/f")).size, 10u);
  fs.remove("/w/f");
  kernel.queue("/w", IN_DELETE, "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::remove, "/w/f", ""}}));
  EXPECT_EQ(w->model.find_path("/w/f"), core::kNoNode);
}

// Files created and deleted before their records were read cannot be statted: each is
// tried again only when a rename could have made its path resolve, not at every later
// record (that was quadratic: 4000 such files kept `lookout stats` busy 140 s).
TEST_F(InotifyTranslator, FilesGoneBeforeTheirCreateIsReadCostLinearly) {
  start();
  constexpr int kFiles = 2000;
  for (int i = 0; i < kFiles; ++i) kernel.queue("/w", IN_CREATE, "n" + std::to_string(i));
  for (int i = 0; i < kFiles; ++i) kernel.queue("/w", IN_DELETE, "n" + std::to_string(i));
  const std::uint64_t before = fs.stat_calls;
  auto seen = step();
  EXPECT_EQ(seen.size(), 2u * kFiles);
  EXPECT_LT(fs.stat_calls - before, 10u * kFiles) << "stat calls grow faster than the records";
  EXPECT_EQ(w->model.find_path("/w/n0"), core::kNoNode);
}

// Every record a read returns describes a change made before the read, so one stat taken
// while handling it shows them all: a file written many times in one read is statted once,
// and the write is still reported once per record (stats counts each).
TEST_F(InotifyTranslator, AFileWrittenManyTimesInOneReadIsStattedOnce) {
  fs.write("/w/f");
  start();
  fs.write("/w/f", 100);
  for (int i = 0; i < 50; ++i) {
    kernel.queue("/w", IN_MODIFY, "f");
    kernel.queue("/w", IN_CLOSE_WRITE, "f");
  }
  const std::uint64_t before = fs.stat_calls;
  auto seen = step();
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(),
                          [](const Seen& s) { return s.kind == EventKind::modify; }),
            50);
  EXPECT_LE(fs.stat_calls - before, 3u) << "a stat per record";
  EXPECT_EQ(w->model.stat(w->model.find_path("/w/f")).size, 100u);
  // The next read stats again: what it holds may be newer than the last stat.
  fs.write("/w/f", 200);
  kernel.queue("/w", IN_MODIFY, "f");
  step();
  EXPECT_EQ(w->model.stat(w->model.find_path("/w/f")).size, 200u);
}

// A burst of creates in one directory is statted relative to it (one component walked, no
// path string built), and the step gives every directory fd back before it returns: an
// O_PATH fd pins its mount.
TEST_F(InotifyTranslator, ABurstIsStattedThroughItsDirectoryAndNoFdOutlivesTheStep) {
  fs.mkdir("/w/a");
  start();
  for (int i = 0; i < 100; ++i) {
    fs.write("/w/a/f" + std::to_string(i), 1);
    kernel.queue("/w/a", IN_CREATE, "f" + std::to_string(i));
  }
  const std::uint64_t before = fs.relative_stat_calls;
  auto seen = step();
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_GE(fs.relative_stat_calls - before, 99u) << "statted by full path";
  EXPECT_EQ(fs.open_fds(), 0u);
  const core::NodeId f = w->model.find_path("/w/a/f99");
  ASSERT_NE(f, core::kNoNode);
  EXPECT_TRUE(w->model.stat_known(f));
  EXPECT_EQ(w->model.stat(f).ino, fs.ino("/w/a/f99"));
}

// The directory is renamed while records of its entries are still queued: those before the
// rename cannot be statted at the old path, those after it are, at the new one.
TEST_F(InotifyTranslator, ABurstAcrossARenameOfItsDirectory) {
  fs.mkdir("/w/a");
  start();
  const int wd = kernel.wd("/w/a");
  fs.write("/w/a/f1");
  fs.write("/w/a/f2");
  kernel.queue(wd, IN_CREATE, 0, "f1");
  kernel.queue(wd, IN_CREATE, 0, "f2");
  fs.rename("/w/a", "/w/b");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "a", 5);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "b", 5);
  fs.write("/w/b/f3");
  fs.write("/w/b/f4");
  kernel.queue(wd, IN_CREATE, 0, "f3");
  kernel.queue(wd, IN_CREATE, 0, "f4");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/a/f1", ""},
                                       {EventKind::create, "/w/a/f2", ""},
                                       {EventKind::rename, "/w/b", "/w/a"},
                                       {EventKind::create, "/w/b/f3", ""},
                                       {EventKind::create, "/w/b/f4", ""}}));
  for (const char* p : {"/w/b/f1", "/w/b/f2", "/w/b/f3", "/w/b/f4"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    if (w->model.stat_known(id)) EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  EXPECT_EQ(fs.open_fds(), 0u);
}

TEST_F(InotifyTranslator, NewDirectoryIsWatchedThenListed) {
  start();
  // mkdir -p: what was made inside before the watch existed is found by the listing.
  fs.mkdir("/w/d/e");
  fs.write("/w/d/e/f");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "d");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/d", ""},
                                       {EventKind::create, "/w/d/e", ""},
                                       {EventKind::create, "/w/d/e/f", ""}}));
  EXPECT_GE(kernel.wd("/w/d"), 1);
  EXPECT_GE(kernel.wd("/w/d/e"), 1);
  // The CREATE the new watch raises for what the listing already reported changes nothing.
  kernel.queue("/w/d", IN_CREATE | IN_ISDIR, "e");
  EXPECT_TRUE(step().empty());
}

// tmp + rename read late: the writes were reported under the old name while its path no
// longer resolved, so the model's stamps were stale when the rename came. The rename carries
// the stamps the file has now, and no second `modify` follows it (ingest takes a renamed file
// as complete; a modify after it would make it wait for a write that never comes).
TEST_F(InotifyTranslator, AFileWrittenAndRenamedBeforeItsRecordsAreReadIsNotReportedWrittenAgain) {
  start();
  fs.write("/w/a.tmp");
  kernel.queue("/w", IN_CREATE, "a.tmp");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/a.tmp", ""}}));
  fs.write("/w/a.tmp", 25);
  fs.rename("/w/a.tmp", "/w/a");
  kernel.queue("/w", IN_MODIFY, "a.tmp");
  kernel.queue("/w", IN_CLOSE_WRITE, "a.tmp");
  kernel.queue("/w", IN_MOVED_FROM, "a.tmp", 9);
  kernel.queue("/w", IN_MOVED_TO, "a", 9);
  alive = w->step(0);
  std::vector<Event> out;
  w->log.take(*w->primary, out, 0);
  std::erase_if(out, [](const Event& e) { return e.kind == EventKind::backend; });
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].kind, EventKind::modify);
  EXPECT_EQ(out[1].kind, EventKind::close_write);
  EXPECT_EQ(out[2].kind, EventKind::rename);
  EXPECT_EQ(out[2].path, "/w/a");
  ASSERT_TRUE(out[2].stat.has_value());
  EXPECT_EQ(out[2].stat->size, 25u);
  // A write nobody reported (through another name, outside the tree) still shows at a rename.
  fs.write("/w/a", 40);
  fs.rename("/w/a", "/w/b");
  kernel.queue("/w", IN_MOVED_FROM, "a", 10);
  kernel.queue("/w", IN_MOVED_TO, "b", 10);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/b", "/w/a"},
                                       {EventKind::modify, "/w/b", "stamps"}}));
}

// mkdir n, mv n m, mkdir n again, all before the first CREATE is read: that CREATE finds the
// second directory at n (watched and listed as n), and the rename that follows is of the
// first one, which the model never saw. The second stays at n, the first arrives at m with
// what it holds, and each is watched where it is.
TEST_F(InotifyTranslator, ADirectoryMadeMovedAwayAndMadeAgainBeforeItsCreateIsRead) {
  start();
  fs.mkdir("/w/n");
  fs.write("/w/n/f1");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  fs.rename("/w/n", "/w/m");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "n", 5);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "m", 5);
  fs.mkdir("/w/n/sub");
  fs.write("/w/n/f2");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/n", ""},
                                       {EventKind::create, "/w/n/f2", ""},
                                       {EventKind::create, "/w/n/sub", ""},
                                       {EventKind::create, "/w/m", "moved_in"},
                                       {EventKind::create, "/w/m/f1", "with_parent"}}));
  for (const char* p : {"/w/m", "/w/m/f1", "/w/n", "/w/n/f2", "/w/n/sub"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  EXPECT_EQ(w->model.find_path("/w/m/f2"), core::kNoNode);
  EXPECT_EQ(w->model.size(), 6u);
  // Each watch stands for the directory it watches.
  fs.write("/w/m/g");
  kernel.queue("/w/m", IN_CREATE, "g");
  fs.write("/w/n/h");
  kernel.queue("/w/n", IN_CREATE, "h");
  fs.write("/w/n/sub/i");
  kernel.queue("/w/n/sub", IN_CREATE, "i");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/m/g", ""},
                                       {EventKind::create, "/w/n/h", ""},
                                       {EventKind::create, "/w/n/sub/i", ""}}));
}

// The file's version: touch a, mv a b, touch a, all before the first CREATE is read. That
// CREATE's stat finds the second file at a; the rename that follows is of the first. Each
// name must end with the identity of the file it holds (tail and ingest key offsets and
// journals by it), and the rename must carry b's, not the second a's.
TEST_F(InotifyTranslator, AFileMadeMovedAwayAndMadeAgainBeforeItsCreateIsRead) {
  start();
  fs.write("/w/a", 10);
  kernel.queue("/w", IN_CREATE, "a");
  fs.rename("/w/a", "/w/b");
  kernel.queue("/w", IN_MOVED_FROM, "a", 5);
  kernel.queue("/w", IN_MOVED_TO, "b", 5);
  fs.write("/w/a", 20);
  kernel.queue("/w", IN_CREATE, "a");
  alive = w->step(0);
  std::vector<Event> out;
  w->log.take(*w->primary, out, 0);
  std::erase_if(out, [](const Event& e) { return e.kind == EventKind::backend; });
  std::vector<Seen> seen;
  for (const Event& e : out) seen.push_back({e.kind, e.path, e.from});
  EXPECT_EQ(seen, (std::vector<Seen>{{EventKind::create, "/w/a", ""},
                                     {EventKind::rename, "/w/b", "/w/a"},
                                     {EventKind::create, "/w/a", ""}}));
  ASSERT_EQ(out.size(), 3u);
  ASSERT_TRUE(out[1].stat.has_value());
  EXPECT_EQ(out[1].stat->ino, fs.ino("/w/b"));
  EXPECT_EQ(out[1].stat->size, 10u);
  ASSERT_TRUE(out[2].stat.has_value());
  EXPECT_EQ(out[2].stat->ino, fs.ino("/w/a"));
  for (const char* p : {"/w/a", "/w/b"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  // A write to b is b's: no echo to a as if they were one inode's two names.
  fs.write("/w/b", 30);
  kernel.queue("/w", IN_MODIFY, "b");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::modify, "/w/b", ""}}));
}

// What that rule could confuse it with: mv a b, mv b a, touch b, before the first rename is
// read. The model's file is back at a and b holds a new one; the renames and the CREATE that
// follow leave each name with its own file.
TEST_F(InotifyTranslator, AFileMovedAwayAndBackWithItsNewNameMadeAgain) {
  start();
  fs.write("/w/a", 10);
  kernel.queue("/w", IN_CREATE, "a");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/a", ""}}));
  fs.rename("/w/a", "/w/b");
  kernel.queue("/w", IN_MOVED_FROM, "a", 5);
  kernel.queue("/w", IN_MOVED_TO, "b", 5);
  fs.rename("/w/b", "/w/a");
  kernel.queue("/w", IN_MOVED_FROM, "b", 6);
  kernel.queue("/w", IN_MOVED_TO, "a", 6);
  fs.write("/w/b", 20);
  kernel.queue("/w", IN_CREATE, "b");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/b", "/w/a"},
                                       {EventKind::rename, "/w/a", "/w/b"},
                                       {EventKind::create, "/w/b", ""}}));
  for (const char* p : {"/w/a", "/w/b"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  EXPECT_EQ(w->model.size(), 3u);
}

// The same, moved out of the tree instead: the MOVED_FROM with no MOVED_TO is of the first
// directory, not of the one the model has at n.
TEST_F(InotifyTranslator, ADirectoryMadeMovedOutAndMadeAgainBeforeItsCreateIsRead) {
  fs.mkdir("/elsewhere");
  start();
  fs.mkdir("/w/n");
  fs.write("/w/n/f1");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  fs.rename("/w/n", "/elsewhere/n");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "n", 5);
  fs.mkdir("/w/n");
  fs.write("/w/n/f2");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/n", ""},
                                       {EventKind::create, "/w/n/f2", ""}}));
  EXPECT_TRUE(kernel.removed().empty());
  fs.write("/w/n/h");
  kernel.queue("/w/n", IN_CREATE, "h");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/n/h", ""}}));
}

// Made, moved away and made again, the first CREATE read (the second directory listed as
// n) before the second was moved on too: when the rename of the first is read, n holds
// neither. The node the rename moves was listed and watched as the second directory, so
// what is at m now is listed in its place, and the second is found where it went.
TEST_F(InotifyTranslator, ADirectoryMadeMovedAwayMadeAgainAndMovedOnBeforeItsCreateIsRead) {
  start();
  fs.mkdir("/w/n");
  fs.write("/w/n/f1");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  fs.rename("/w/n", "/w/m");
  fs.mkdir("/w/n");
  fs.write("/w/n/f2");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/n", ""},
                                       {EventKind::create, "/w/n/f2", ""}}));
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "n", 5);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "m", 5);
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "n");
  fs.rename("/w/n", "/w/p");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "n", 6);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "p", 6);
  step();
  for (const char* p : {"/w/m", "/w/m/f1", "/w/p", "/w/p/f2"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  EXPECT_EQ(w->model.size(), 5u);
  fs.write("/w/m/g");
  kernel.queue("/w/m", IN_CREATE, "g");
  fs.write("/w/p/h");
  kernel.queue("/w/p", IN_CREATE, "h");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/m/g", ""},
                                       {EventKind::create, "/w/p/h", ""}}));
}

// The destination's path may lead elsewhere for a reason of its own: its directory renamed
// away and its name taken, those records still queued. A rename read then is applied as
// recorded (the node's listing and watch are its directory's), not taken for a replacement.
TEST_F(InotifyTranslator, ADirectoryRenamedIntoADirectoryThatMovesOnAndIsMadeAgain) {
  fs.mkdir("/w/a/n");
  fs.write("/w/a/n/f");
  start();
  const int n = kernel.wd("/w/a/n");
  const int a = kernel.wd("/w/a");
  fs.rename("/w/a/n", "/w/a/m");
  kernel.queue(a, IN_MOVED_FROM | IN_ISDIR, 4, "n");
  kernel.queue(a, IN_MOVED_TO | IN_ISDIR, 4, "m");
  fs.rename("/w/a", "/w/b");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "a", 5);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "b", 5);
  fs.mkdir("/w/a/m");
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "a");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/a/m", "/w/a/n"},
                                       {EventKind::rename, "/w/b", "/w/a"},
                                       {EventKind::create, "/w/a", ""},
                                       {EventKind::create, "/w/a/m", ""}}));
  for (const char* p : {"/w/b/m", "/w/b/m/f", "/w/a/m"}) {
    const core::NodeId id = w->model.find_path(p);
    ASSERT_NE(id, core::kNoNode) << p;
    EXPECT_EQ(w->model.stat(id).ino, fs.ino(p)) << p;
  }
  EXPECT_TRUE(kernel.removed().empty());
  EXPECT_EQ(kernel.wd("/w/b/m"), n);
  fs.write("/w/b/m/g");
  kernel.queue(n, IN_CREATE, 0, "g");
  fs.write("/w/a/m/h");
  kernel.queue("/w/a/m", IN_CREATE, "h");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/b/m/g", ""},
                                       {EventKind::create, "/w/a/m/h", ""}}));
}

TEST_F(InotifyTranslator, MovedFromAndMovedToWithOneCookieAreOneRename) {
  fs.mkdir("/w/a");
  fs.mkdir("/w/b");
  fs.write("/w/a/f");
  start();
  fs.rename("/w/a/f", "/w/b/g");
  kernel.queue("/w/a", IN_MOVED_FROM, "f", 7);
  kernel.queue("/w/b", IN_MOVED_TO, "g", 7);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/b/g", "/w/a/f"}}));
  EXPECT_NE(w->model.find_path("/w/b/g"), core::kNoNode);
  EXPECT_EQ(w->model.find_path("/w/a/f"), core::kNoNode);
}

TEST_F(InotifyTranslator, RenamedDirectoryKeepsItsWatchAndItsChildrenFollow) {
  fs.mkdir("/w/d");
  fs.write("/w/d/f");
  start();
  const int wd = kernel.wd("/w/d");
  fs.rename("/w/d", "/w/e");
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "d", 3);
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "e", 3);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/e", "/w/d"}}));
  // The kernel's watch followed the inode: its events now name the new path.
  fs.write("/w/e/f", 1);
  kernel.queue(wd, IN_MODIFY, 0, "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::modify, "/w/e/f", ""}}));
  EXPECT_TRUE(kernel.removed().empty());
}

TEST_F(InotifyTranslator, DirectoryMovedOutIsReportedDeletedAndUnwatched) {
  fs.mkdir("/w/d/e");
  fs.write("/w/d/f");
  fs.mkdir("/elsewhere");
  start();
  const int d = kernel.wd("/w/d");
  const int e = kernel.wd("/w/d/e");
  fs.rename("/w/d", "/elsewhere/d");
  // No MOVED_TO follows: the pair would have been adjacent (checked once more after 1 ms).
  kernel.queue("/w", IN_MOVED_FROM | IN_ISDIR, "d", 9);
  std::vector<Seen> seen = step();
  std::sort(seen.begin(), seen.end() - 1, [](const Seen& a, const Seen& b) { return a.path < b.path; });
  // What it held went with it: no record of their own (reason with_parent).
  EXPECT_EQ(seen, (std::vector<Seen>{{EventKind::remove, "/w/d/e", "with_parent"},
                                     {EventKind::remove, "/w/d/f", "with_parent"},
                                     {EventKind::remove, "/w/d", "moved_out"}}));
  // Its watches would keep reporting from outside under stale paths: both removed.
  std::vector<int> removed = kernel.removed();
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<int>{std::min(d, e), std::max(d, e)}));
  // Their IN_IGNORED, queued by the removal, reports nothing.
  EXPECT_TRUE(step().empty());
  EXPECT_TRUE(alive);
}

TEST_F(InotifyTranslator, MovedToFromOutsideIsACreateWithItsContents) {
  fs.mkdir("/elsewhere/d");
  fs.write("/elsewhere/d/f");
  start();
  fs.rename("/elsewhere/d", "/w/d");
  kernel.queue("/w", IN_MOVED_TO | IN_ISDIR, "d", 4);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/d", "moved_in"},
                                       {EventKind::create, "/w/d/f", "with_parent"}}));
  EXPECT_GE(kernel.wd("/w/d"), 1);
}

TEST_F(InotifyTranslator, OverflowReportsRescanAndTheRescanFindsWhatWasLost) {
  fs.write("/w/gone");
  start();
  fs.write("/w/new");
  fs.remove("/w/gone");
  kernel.queue(-1, IN_Q_OVERFLOW);
  expect_overflow_rescan(step(),
                         {{EventKind::remove, "/w/gone", ""}, {EventKind::create, "/w/new", ""}});
  EXPECT_EQ(w->stats.overflows, 1u);
  EXPECT_EQ(w->stats.rescans, 1u);
}

TEST_F(InotifyTranslator, IgnoredOnTheRootEndsWatching) {
  start();
  const int root = kernel.wd("/w");
  fs.remove("/w");
  kernel.queue(root, IN_DELETE_SELF);
  kernel.queue(root, IN_IGNORED);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::remove, "/w", ""}}));
  EXPECT_FALSE(alive);
  EXPECT_EQ(w->end_error.code, ErrorCode::root_gone);
}

TEST_F(InotifyTranslator, UnmountOfASubmountUncoversTheDirectoryUnderneath) {
  fs.mkdir("/w/m/inside");
  fs.set_dev("/w/m", 2);
  fs.set_dev("/w/m/inside", 2);
  start();
  const int inside = kernel.wd("/w/m/inside");
  const int m = kernel.wd("/w/m");
  // The kernel sends IN_UNMOUNT to every watch on the filesystem, in no set order: only the
  // mount point stands for the mount. After it, the directory underneath is empty.
  fs.remove("/w/m");
  fs.mkdir("/w/m");
  kernel.queue(inside, IN_UNMOUNT);
  kernel.queue(m, IN_UNMOUNT);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::unmount, "/w/m", ""},
                                       {EventKind::remove, "/w/m/inside", ""},
                                       {EventKind::remove, "/w/m", ""},
                                       {EventKind::create, "/w/m", ""}}));
  EXPECT_TRUE(alive);
}

TEST_F(InotifyTranslator, AnUnknownBitIsAModifyNeverNothing) {
  fs.write("/w/f");
  start();
  kernel.queue("/w", 0x00400000u, "f");  // no event this code knows
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::modify, "/w/f", ""}}));
}

}  // namespace
}  // namespace lookout
