// The engine on real directories: every behaviour the issue lists, driven through step()
// (or a loop thread where the race itself is the point), with deadlines instead of sleeps.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "support/consumer_state.h"
#include "support/test_dirs.h"

namespace lookout {
namespace {

using testing::Recorder;
using testing::TempDir;
namespace fs = std::filesystem;

WatchOptions opts_for(const std::string& root) {
  WatchOptions o;
  o.paths = {root};
  return o;
}

// The consumer's view: applies events in order to a set of paths (see README semantics).
using State = testing::ConsumerState;
using testing::apply_event;
using testing::diff_states;
using testing::snapshot;


TEST(Watcher, ReportsCreateModifyCloseWriteDelete) {
  TempDir t;
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::write_file(t / "f", "hello");
  ASSERT_TRUE(r.wait_for(EventKind::close_write, t / "f")) << r.dump();
  EXPECT_EQ(r.count(EventKind::create, t / "f"), 1u);
  ::unlink((t / "f").c_str());
  ASSERT_TRUE(r.wait_for(EventKind::remove, t / "f")) << r.dump();
}

TEST(Watcher, NewDirectoryContentsAreReportedOnceEach) {
  TempDir t;
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::make_dirs(t / "a/b/c/d");
  testing::write_file(t / "a/b/c/d/f", "x");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "a/b/c/d/f")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (auto p : {"a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/f"}) {
    EXPECT_EQ(r.count(EventKind::create, t / p), 1u) << p << "\n" << r.dump();
  }
}

// fslab §3: a naive recursive watcher misses the file in up to 100% of trials.
TEST(Watcher, MkdirPRaceThousandOfThousand) {
  TempDir t;
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  std::thread loop([&] { w->run(); });
  Recorder r(*w, /*threaded=*/true);
  constexpr int kTrials = 1000;
  for (int i = 0; i < kTrials; ++i) {
    std::string base = t / ("t" + std::to_string(i));
    testing::make_dirs(base + "/a/b/c/d");
    int fd = ::open((base + "/a/b/c/d/f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "x", 1), 1);
    ::close(fd);
  }
  std::set<std::string> want;
  for (int i = 0; i < kTrials; ++i) want.insert(t / ("t" + std::to_string(i) + "/a/b/c/d/f"));
  bool ok = r.wait_until([&](const std::vector<Event>& evs) {
    std::size_t seen = 0;
    std::set<std::string> got;
    for (const auto& e : evs) if (e.kind == EventKind::create && want.count(e.path)) got.insert(e.path);
    seen = got.size();
    return seen == want.size();
  }, std::chrono::seconds(60));
  w->request_stop();
  loop.join();
  EXPECT_TRUE(ok) << "not every file in a new directory was reported";
}

TEST(Watcher, DirectoryRenameAtDepthUpdatesEveryPath) {
  TempDir t;
  testing::make_dirs(t / "a/b/c/d");
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::rename_path(t / "a/b", t / "a/x");
  ASSERT_TRUE(r.wait_for(EventKind::rename, t / "a/x", t / "a/b")) << r.dump();
  testing::write_file(t / "a/x/c/d/f", "1");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "a/x/c/d/f")) << r.dump();
  testing::rename_path(t / "a", t / "top");
  testing::append_file(t / "top/x/c/d/f", "2");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "top/x/c/d/f")) << r.dump();
}

TEST(Watcher, MovedOutDirectoryStopsReportingAndMovedBackIsCreated) {
  TempDir t, outside;
  testing::make_dirs(t / "w/sub/deep");
  auto w = testing::start_watcher(opts_for(t / "w"));
  ASSERT_TRUE(w);
  auto before = w->stats().watches;
  Recorder r(*w);
  testing::rename_path(t / "w/sub", outside / "sub");
  ASSERT_TRUE(r.wait_for(EventKind::remove, t / "w/sub")) << r.dump();
  EXPECT_EQ(w->stats().watches, before - 2) << "watches of a moved-out subtree must go";
  testing::write_file(outside / "sub/deep/ghost", "boo");
  ASSERT_TRUE(r.sync(t / "w/cookie1"));
  for (const auto& e : r.events()) EXPECT_EQ(e.path.find("ghost"), std::string::npos) << r.dump();
  testing::rename_path(outside / "sub", t / "w/back");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "w/back/deep/ghost")) << r.dump();
  EXPECT_EQ(w->stats().watches, before);
}

TEST(Watcher, RmRfReportsEverythingAndDropsWatches) {
  TempDir t;
  testing::make_dirs(t / "r/x/y");
  testing::write_file(t / "r/x/y/f", "1");
  testing::write_file(t / "r/x/g", "1");
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::remove_all(t / "r");
  ASSERT_TRUE(r.wait_for(EventKind::remove, t / "r")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (auto p : {"r/x/y/f", "r/x/g", "r/x/y", "r/x"}) EXPECT_EQ(r.count(EventKind::remove, t / p), 1u) << p;
  EXPECT_EQ(w->stats().watches, 1u);
  EXPECT_EQ(w->stats().nodes, 2u);  // root + cookie
}

TEST(Watcher, AtomicSaveIsOneRename) {
  TempDir t;
  testing::write_file(t / "config", "old");
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::write_file(t / ".config.tmp", "new");
  testing::rename_path(t / ".config.tmp", t / "config");
  ASSERT_TRUE(r.wait_for(EventKind::rename, t / "config", t / ".config.tmp")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie"));
  EXPECT_EQ(r.count(EventKind::remove, t / "config"), 0u) << r.dump();
}

TEST(Watcher, DeletedButOpenFileReportsNoGhostWrites) {
  TempDir t;
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  int fd = ::open((t / "del").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "del"));
  ::unlink((t / "del").c_str());
  ASSERT_EQ(::write(fd, "data", 4), 4);
  ::close(fd);
  ASSERT_TRUE(r.sync(t / "cookie"));
  bool deleted = false;
  for (const auto& e : r.events()) {
    if (e.path != t / "del") continue;
    if (e.kind == EventKind::remove) deleted = true;
    else EXPECT_FALSE(deleted) << "event after delete: " << event_kind_name(e.kind);
  }
  EXPECT_TRUE(deleted);
}

TEST(Watcher, OddNamesArePassedAsBytes) {
  TempDir t;
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  std::vector<std::string> names = {"with space", "new\nline", "-leading-dash", std::string("bad\xff\xfe", 5),
                                    "tab\there", "quote\"s"};
  for (const auto& n : names) testing::write_file(t / n, "x");
  for (const auto& n : names) EXPECT_TRUE(r.wait_for(EventKind::close_write, t / n)) << n;
}

TEST(Watcher, DeletedRootEndsWatching) {
  TempDir t;
  testing::make_dirs(t / "root/sub");
  auto w = testing::start_watcher(opts_for(t / "root"));
  ASSERT_TRUE(w);
  Recorder r(*w);
  testing::remove_all(t / "root");
  ASSERT_TRUE(r.wait_for(EventKind::remove, t / "root")) << r.dump();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (w->step(20) && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(w->end_reason().code, ErrorCode::root_gone);
  EXPECT_NE(w->end_reason().message.find(t / "root"), std::string::npos);
}

TEST(Watcher, NonexistentRootIsAClearError) {
  auto w = Watcher::create(opts_for("/nonexistent/lookout/path"));
  ASSERT_TRUE(w);
  auto started = (*w)->start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::not_found);
  EXPECT_NE(started.error().message.find("/nonexistent/lookout/path"), std::string::npos);
}

TEST(Watcher, ExcludedDirectoryGetsNoWatch) {
  TempDir t;
  testing::make_dirs(t / "keep/a");
  testing::make_dirs(t / "node_modules/x/y");
  auto o = opts_for(t.path());
  o.exclude_globs = {"node_modules"};
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().watches, 3u);  // root, keep, keep/a
  Recorder r(*w);
  testing::write_file(t / "node_modules/x/f", "1");
  testing::make_dirs(t / "node_modules2");
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (const auto& e : r.events()) EXPECT_EQ(e.path.find("node_modules/"), std::string::npos) << r.dump();
}

// Overflow: the loop does not read while a burst larger than the kernel queue happens,
// so the kernel really drops events (IN_Q_OVERFLOW); the rescan must reconstruct all.
TEST(Watcher, OverflowRescanReconstructsTheTree) {
  TempDir t;
  testing::make_dirs(t / "old/sub");
  for (int i = 0; i < 50; ++i) testing::write_file(t / ("old/sub/f" + std::to_string(i)), "x");
  testing::write_file(t / "keep", "1");
  testing::write_file(t / "gone", "1");
  testing::make_dirs(t / "burst");
  State consumer = snapshot(t.path());
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  long queue = 16384;
  if (FILE* f = std::fopen("/proc/sys/fs/inotify/max_queued_events", "r")) {
    if (std::fscanf(f, "%ld", &queue) != 1) queue = 16384;
    std::fclose(f);
  }
  ASSERT_LT(queue, 400000) << "queue too large to overflow in a test";
  // Blind window: more events than the queue holds, plus renames, deletes and appends.
  for (long i = 0; i < queue / 2 + 1000; ++i) testing::write_file(t / ("burst/f" + std::to_string(i)), "");
  testing::rename_path(t / "old", t / "renamed");
  testing::append_file(t / "keep", "more");
  ::unlink((t / "gone").c_str());
  testing::make_dirs(t / "late/a/b");
  testing::write_file(t / "late/a/b/f", "x");
  Recorder r(*w);
  ASSERT_TRUE(r.wait_until([](const std::vector<Event>& evs) {
    for (auto& e : evs) if (e.kind == EventKind::rescan) return true;
    return false;
  })) << "no rescan after overflow";
  ASSERT_TRUE(r.sync(t / "cookie"));
  EXPECT_GE(w->stats().overflows, 1u);
  for (const auto& e : r.events()) apply_event(consumer, e);
  State real = snapshot(t.path());
  EXPECT_EQ(diff_states(real, consumer), "");
  EXPECT_EQ(r.count(EventKind::rename, t / "renamed"), 1u) << "the directory rename should be found by identity";
}

// The first crawl lists files without stat'ing them. A rescan must still tell which of them
// changed after ready (their event may have been lost): those are modified, the rest silent.
TEST(Watcher, RescanFindsChangesToFilesListedWithoutAStat) {
  TempDir t;
  testing::make_dirs(t / "d");
  testing::write_file(t / "d/touched", "1");
  testing::write_file(t / "d/quiet", "1");
  // The crawl allows stamps a little older than itself (the filesystem's coarse clock): let
  // the fixture's ctimes fall well behind that margin before the watcher starts.
  struct stat quiet_st {};
  ASSERT_EQ(::stat((t / "d/quiet").c_str(), &quiet_st), 0);
  for (;;) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec > quiet_st.st_ctim.tv_sec + 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  testing::append_file(t / "d/touched", "more");
  // Rescan before the loop reads the kernel's modify event: the diff alone must find it.
  w->rescan_now("test");
  std::vector<Event> from_rescan;
  ASSERT_TRUE(w->next_batch(from_rescan, 0));
  std::size_t modified_by_rescan = 0;
  for (const auto& e : from_rescan) {
    if (e.kind == EventKind::modify && e.path == t / "d/touched") ++modified_by_rescan;
  }
  EXPECT_EQ(modified_by_rescan, 1u);
  Recorder r(*w);
  ASSERT_TRUE(r.sync(t / "cookie"));
  r.events().insert(r.events().begin(), from_rescan.begin(), from_rescan.end());
  EXPECT_EQ(r.count(EventKind::modify, t / "d/quiet"), 0u) << r.dump();
  EXPECT_EQ(r.count(EventKind::create, t / "d/quiet"), 0u) << r.dump();
}

// A consumer that does not read: the loop stops reading the kernel at the bound instead of
// growing memory, and nothing is lost once the consumer catches up.
TEST(Watcher, SlowConsumerBoundsMemoryWithoutLoss) {
  TempDir t;
  State consumer = snapshot(t.path());
  auto o = opts_for(t.path());
  o.max_pending = 200;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  for (int i = 0; i < 3000; ++i) testing::write_file(t / ("f" + std::to_string(i)), "x");
  for (int i = 0; i < 50; ++i) w->step(0);  // never consumed
  EXPECT_GE(w->stats().paused, 1u);
  EXPECT_LE(w->stats().events, 200u + 16384u) << "pending events must stay bounded";
  Recorder r(*w);
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (const auto& e : r.events()) apply_event(consumer, e);
  EXPECT_EQ(diff_states(snapshot(t.path()), consumer), "");
}

TEST(Watcher, SymlinksAreNotFollowed) {
  TempDir t, other;
  testing::make_dirs(other / "deep/er");
  ASSERT_EQ(::symlink(other.path().c_str(), (t / "link").c_str()), 0);
  ASSERT_EQ(::symlink(t.path().c_str(), (t / "loop").c_str()), 0);
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().watches, 1u);
  Recorder r(*w);
  testing::write_file(other / "deep/f", "x");
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (const auto& e : r.events()) EXPECT_EQ(e.path.find("deep"), std::string::npos);
}

}  // namespace
}  // namespace lookout
