// The polling backend: the same behaviours as inotify, found by scanning and diffing, driven
// with poll_now() so no test waits for an interval.
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "support/consumer_state.h"
#include "support/test_dirs.h"

namespace lookout {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using State = testing::ConsumerState;
using testing::apply_event;
using testing::diff_states;
using testing::snapshot;

struct Polled {
  std::unique_ptr<Watcher> w;
  State consumer;
  std::vector<Event> events;
  std::vector<Event> announced;  // what start() said: the backend decision
  explicit Polled(const std::string& root, bool full_only = false) {
    consumer = snapshot(root);
    WatchOptions o;
    o.paths = {root};
    o.backend = BackendChoice::poll;
    o.poll_full = full_only;
    w = testing::start_watcher(o);
    if (w) w->next_batch(announced, 0);
  }
  // One full pass, then the events it produced.
  std::vector<Event> poll() {
    w->poll_now();
    std::vector<Event> got;
    w->next_batch(got, 0);
    for (auto& e : got) apply_event(consumer, e);
    events.insert(events.end(), got.begin(), got.end());
    return got;
  }
};


TEST(PollBackend, NeedsNoWatchesAndSeesCreatesModifiesDeletes) {
  TempDir t;
  testing::make_dirs(t / "a");
  testing::write_file(t / "a/f", "1");
  Polled p(t.path());
  ASSERT_TRUE(p.w);
  EXPECT_EQ(p.w->stats().watches, 0u);
  // The decision is an event of its own: which backend, for which subtree, why.
  ASSERT_EQ(p.announced.size(), 1u);
  EXPECT_EQ(p.announced[0].kind, EventKind::backend);
  EXPECT_EQ(p.announced[0].path, t.path());
  EXPECT_EQ(p.announced[0].reason.rfind("poll: ", 0), 0u) << p.announced[0].reason;
  testing::append_file(t / "a/f", "22");
  testing::make_dirs(t / "n/e/w");
  testing::write_file(t / "n/e/w/f", "x");
  auto evs = p.poll();
  ASSERT_GE(evs.size(), 5u);
  bool modified = false;
  for (auto& e : evs) modified |= e.kind == EventKind::modify && e.path == t / "a/f";
  EXPECT_TRUE(modified);
  testing::remove_all(t / "n");
  p.poll();
  EXPECT_EQ(diff_states(snapshot(t.path()), p.consumer), "");
}

TEST(PollBackend, RenamesAreDetectedByIdentity) {
  TempDir t;
  testing::make_dirs(t / "a/b/c");
  testing::write_file(t / "a/b/c/f", "data");
  testing::write_file(t / "g", "g");
  Polled p(t.path());
  ASSERT_TRUE(p.w);
  testing::rename_path(t / "a/b", t / "moved");
  testing::rename_path(t / "g", t / "moved/c/g2");
  auto evs = p.poll();
  std::size_t renames = 0, creates = 0;
  for (auto& e : evs) {
    renames += e.kind == EventKind::rename;
    creates += e.kind == EventKind::create;
  }
  EXPECT_EQ(renames, 2u);
  EXPECT_EQ(creates, 0u);
  EXPECT_EQ(diff_states(snapshot(t.path()), p.consumer), "");
}

TEST(PollBackend, QuietPrunedPassStatsDirectoriesNotFiles) {
  TempDir t;
  for (int d = 0; d < 20; ++d) {
    testing::make_dirs(t / ("d" + std::to_string(d)));
    for (int f = 0; f < 50; ++f) testing::write_file(t / ("d" + std::to_string(d) + "/f" + std::to_string(f)), "x");
  }
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::poll;
  o.poll_min_ms = 1;
  o.poll_max_ms = 1;
  o.poll_full_every_ms = 1000000;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  auto before = w->stats();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (w->stats().polls < before.polls + 3 && std::chrono::steady_clock::now() < deadline) w->step(50);
  auto after = w->stats();
  ASSERT_GE(after.polls, before.polls + 3);
  // 1 root + 20 directories per pass, never the 1000 files.
  EXPECT_LE((after.poll_stats - before.poll_stats) / (after.polls - before.polls), 21u);
  // A new file changes its directory's mtime: the pruned pass lists that directory.
  testing::write_file(t / "d7/new", "x");
  testing::Recorder r(*w);
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "d7/new", {}, std::chrono::seconds(10)));
}

TEST(PollBackend, InPlaceWritesAreCaughtByTheFullPass) {
  TempDir t;
  testing::write_file(t / "f", "1");
  Polled p(t.path());
  ASSERT_TRUE(p.w);
  // Same size, later mtime: only a full pass (which poll_now() is) can see it.
  struct timespec times[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (t / "f").c_str(), times, 0), 0);
  auto evs = p.poll();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].kind, EventKind::modify);
}

// The default full-pass interval comes from what a full pass costs: on a small tree a write
// into an existing file (same size, so its directory's stamps stay) is seen within passes,
// not after a fixed 30 s. (The deadline only bounds a failure; the time is not asserted.)
TEST(PollBackend, InPlaceWritesInASmallTreeAreSeenWithoutWaitingForAFixedFullPass) {
  TempDir t;
  for (int i = 0; i < 50; ++i) testing::write_file(t / ("f" + std::to_string(i)), "1");
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::poll;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  // Same size, later mtime.
  struct timespec times[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (t / "f7").c_str(), times, 0), 0);
  EXPECT_TRUE(r.wait_for(EventKind::modify, t / "f7", {}, std::chrono::seconds(10)));
}

// The watch limit lowered in a private user namespace: the subtrees past it are polled, and
// go back to inotify once the limit is raised, losing nothing either way.
TEST(PollBackend, WatchLimitFallsBackToPollingTheRemainder) {
  TempDir t;
  for (int i = 0; i < 30; ++i) testing::make_dirs(t / ("d" + std::to_string(i) + "/sub"));
  std::string root = t.path();
  pid_t pid = ::fork();
  if (pid == 0) {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(77);
    std::ofstream("/proc/self/setgroups") << "deny";
    std::ofstream("/proc/self/uid_map") << "0 " << uid << " 1";
    std::ofstream("/proc/self/gid_map") << "0 " << gid << " 1";
    std::ofstream lim("/proc/sys/user/max_inotify_watches");
    lim << 10;
    lim.close();
    if (!lim) ::_exit(77);
    WatchOptions o;
    o.paths = {root};
    o.poll_min_ms = 10;
    o.poll_max_ms = 50;
    std::string warning;
    o.on_diagnostic = [&](const Error& e, bool) { warning += e.message + "\n"; };
    auto w = testing::start_watcher(o);
    if (!w) ::_exit(2);
    if (w->stats().polled_dirs == 0) ::_exit(3);
    if (warning.find("max_inotify_watches") == std::string::npos) ::_exit(4);
    if (warning.find("polling") == std::string::npos) ::_exit(5);
    // A change deep in every directory, watched or polled, must be reported.
    for (int i = 0; i < 30; ++i) testing::write_file(root + "/d" + std::to_string(i) + "/sub/f", "x");
    testing::Recorder r(*w);
    for (int i = 0; i < 30; ++i) {
      if (!r.wait_for(EventKind::create, root + "/d" + std::to_string(i) + "/sub/f", {}, std::chrono::seconds(20))) ::_exit(10 + i);
    }
    // The limit raised: the polled subtrees go back to inotify at the next pass. What changed
    // in them since the last pass (here before the watcher runs again) is reported once more
    // by a last full diff, and from then on inotify reports.
    std::ofstream raise("/proc/sys/user/max_inotify_watches");
    raise << 1000;
    raise.close();
    if (!raise) ::_exit(77);
    for (int i = 0; i < 30; ++i) ::unlink((root + "/d" + std::to_string(i) + "/sub/f").c_str());
    for (int i = 0; i < 30; ++i) {
      if (!r.wait_for(EventKind::remove, root + "/d" + std::to_string(i) + "/sub/f", {}, std::chrono::seconds(20))) ::_exit(40 + i);
    }
    if (!r.wait_until([&](const std::vector<Event>&) { return w->stats().polled_dirs == 0; })) ::_exit(70);
    bool said = false;
    for (const auto& e : r.events()) {
      if (e.kind == EventKind::backend && e.reason.rfind("inotify: the inotify watch limit allows", 0) == 0) said = true;
    }
    if (!said) ::_exit(71);
    if (w->stats().watches != 61) ::_exit(72);  // the root, d0..d29 and their sub
    for (int i = 0; i < 30; ++i) testing::write_file(root + "/d" + std::to_string(i) + "/sub/g", "x");
    for (int i = 0; i < 30; ++i) {
      if (!r.wait_for(EventKind::create, root + "/d" + std::to_string(i) + "/sub/g", {}, std::chrono::seconds(20))) ::_exit(73);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
  if (rc == 77) GTEST_SKIP() << "user namespaces are not available here";
  EXPECT_EQ(rc, 0) << "child failed at step " << rc;
}

}  // namespace
}  // namespace lookout
