// Faults of the engine's surroundings (issue 9 §5): no file descriptor left, a polled root
// replaced or unmounted, the root tmpfs unmounted under inotify, unreadable directories.
// Each checks that nothing is left silently blind and that what is reported adds up.
// Tests that mount are in FaultsRoot (root only; they skip with a message otherwise).
#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/test_dirs.h"
#include "support/test_labels.h"
#include "sys/close_in_background.h"

namespace lookout {
namespace {

using testing::TempDir;

// Fills this process's fd table (the soft RLIMIT_NOFILE lowered to just above the fds in
// use, so it takes a few opens) and gives everything back on release() or destruction.
// Closes still in flight on the engine's background threads (an inotify instance closed
// after a probe waits out a grace period) finish first: one returning later would free a
// slot in the full table (CI saw inotify_init1 succeed that way).
class FdExhaustion {
 public:
  FdExhaustion() {
    sys::wait_for_background_closes();
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 2;
    if (DIR* d = ::opendir("/proc/self/fd")) {
      while (dirent* e = ::readdir(d)) highest = std::max(highest, std::atoi(e->d_name));
      ::closedir(d);
    }
    rlimit tight = saved_;
    tight.rlim_cur = static_cast<rlim_t>(highest + 8);
    if (::setrlimit(RLIMIT_NOFILE, &tight) != 0) return;
    lowered_ = true;
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        full_ = errno == EMFILE;
        break;
      }
      held_.push_back(fd);
    }
  }
  ~FdExhaustion() { release(); }
  FdExhaustion(const FdExhaustion&) = delete;
  FdExhaustion& operator=(const FdExhaustion&) = delete;
  bool full() const { return full_; }
  void release() {
    for (int fd : held_) ::close(fd);
    held_.clear();
    if (lowered_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    lowered_ = false;
  }

 private:
  rlimit saved_{};
  bool lowered_ = false;
  bool full_ = false;
  std::vector<int> held_;
};

// `root` watched with `backend`. The diagnostics the faults below raise on purpose are
// appended to `*said` when given, else dropped.
WatchOptions watch_options(const std::string& root, BackendChoice backend,
                           std::string* said = nullptr) {
  WatchOptions o;
  o.paths = {root};
  o.backend = backend;
  o.on_diagnostic = [said](const Error& e, bool) {
    if (said) *said += e.message + "\n";
  };
  return o;
}

bool any_create(const std::vector<Event>& ev, const std::string& path) {
  return std::any_of(ev.begin(), ev.end(),
                     [&](const Event& e) { return e.kind == EventKind::create && e.path == path; });
}

// A directory that appears while no fd is left is watched but cannot be listed: before,
// "cannot list ...: Too many open files" and what it held was never reported. Now it is
// retried, and once fds are back everything in it is reported; changes made meanwhile too.
TEST(Faults, DirectoryListedOnceFileDescriptorsComeBack) {
  TempDir t;
  std::string said;
  auto w = testing::start_watcher(watch_options(t.path(), BackendChoice::inotify, &said));
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  // Made before the watcher looks (it runs only when stepped): `pre` exists before `d`'s
  // watch, so only a listing of `d` can report it.
  testing::make_dirs(t / "d");
  testing::write_file(t / "d/pre", "x");
  {
    FdExhaustion no_fds;
    ASSERT_TRUE(no_fds.full()) << "could not fill the fd table";
    ASSERT_TRUE(r.wait_for(EventKind::create, t / "d")) << r.dump();
    // mkdir needs no fd: a directory made inside the starved one, itself unlistable now.
    ASSERT_EQ(::mkdir((t / "d/sub").c_str(), 0755), 0);
    ASSERT_TRUE(r.wait_for(EventKind::create, t / "d/sub")) << r.dump();
    EXPECT_FALSE(any_create(r.events(), t / "d/pre")) << "listed with no fd free?\n" << r.dump();
  }
  // One message naming the directory, the limit and the fix.
  EXPECT_NE(said.find("cannot list " + (t / "d")), std::string::npos) << said;
  EXPECT_NE(said.find("RLIMIT_NOFILE="), std::string::npos) << said;
  EXPECT_NE(said.find("ulimit -n"), std::string::npos) << said;
  EXPECT_NE(said.find("LimitNOFILE="), std::string::npos) << said;
  // Fds are back: the retry lists `d` and reports what it holds.
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "d/pre")) << said << r.dump();
  // `sub` is watched now: a file made in it is reported.
  testing::write_file(t / "d/sub/later", "y");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "d/sub/later")) << said << r.dump();
  EXPECT_EQ(r.count(EventKind::create, t / "d/pre"), 1u) << r.dump();
}

// inotify_init1 fails with EMFILE when this process has no fd left, not only when the user's
// inotify instances are used up: the message must name the limit that was hit (before, it
// blamed "max_user_instances=-1", read from a /proc file that could not be opened either).
TEST(Faults, NoFdForInotifyNamesRlimitNofile) {
  TempDir t;
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::inotify;
  auto w = Watcher::create(o);
  ASSERT_TRUE(w);
  Result<void> started;
  {
    FdExhaustion no_fds;
    ASSERT_TRUE(no_fds.full());
    started = (*w)->start();
  }
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("RLIMIT_NOFILE="), std::string::npos) << started.error().message;
  EXPECT_EQ(started.error().message.find("max_user_instances"), std::string::npos) << started.error().message;
}

// At the fd limit, an instance this process is still closing on another thread (its close
// waits out a grace period) gives its fd back before inotify_init1 is declared out of fds:
// lookout's own closes in flight (a probe's, a hand-over's) never fail a start.
TEST(Faults, AtTheFdLimitOwnClosesInFlightAreWaitedFor) {
  TempDir t;
  std::string said;
  auto w = Watcher::create(watch_options(t.path(), BackendChoice::inotify, &said));
  ASSERT_TRUE(w);
  const int closing = ::inotify_init1(IN_CLOEXEC);
  ASSERT_GE(closing, 0);
  ASSERT_GE(::inotify_add_watch(closing, "/", IN_OPEN | IN_ONLYDIR), 0);  // its close waits
  Result<void> started;
  {
    FdExhaustion no_fds;
    ASSERT_TRUE(no_fds.full());
    sys::close_in_background(sys::UniqueFd(closing));  // the one fd that comes back
    started = (*w)->start();
  }
  ASSERT_TRUE(started) << started.error().message;
  // The root's listing found no fd left (the instance took the one that came back); it is
  // listed again once fds are back, and what is made there is reported.
  testing::Recorder r(**w);
  testing::write_file(t / "later", "x");
  EXPECT_TRUE(r.wait_for(EventKind::create, t / "later")) << said << r.dump();
}

struct PolledRoot {
  std::unique_ptr<Watcher> w;
  std::vector<Event> events;
  explicit PolledRoot(const std::string& root) {
    w = testing::start_watcher(watch_options(root, BackendChoice::poll));
    if (w) w->next_batch(events, 0);
    events.clear();
  }
  void poll() {
    w->poll_now();
    w->next_batch(events, 0);
  }
  std::string dump() const {
    std::string s;
    for (const auto& e : events) s += std::string(event_kind_name(e.kind)) + " " + e.path + "\n";
    return s;
  }
};

// Polling has no IN_DELETE_SELF: `rm -rf rt && touch rt` went unreported for as long as the
// file stayed. The next pass reports the tree deleted and ends as inotify does.
TEST(Faults, PolledRootReplacedByAFileIsDeleted) {
  TempDir t;
  std::string rt = t / "rt";
  testing::make_dirs(rt + "/a");
  testing::write_file(rt + "/a/f", "1");
  PolledRoot p(rt);
  ASSERT_TRUE(p.w);
  testing::remove_all(rt);
  testing::write_file(rt, "now a file");
  p.poll();
  std::vector<std::string> removed;
  for (const auto& e : p.events) {
    EXPECT_NE(e.kind, EventKind::create) << p.dump();
    if (e.kind == EventKind::remove) removed.push_back(e.path);
  }
  EXPECT_EQ(removed, (std::vector<std::string>{rt + "/a/f", rt + "/a", rt})) << p.dump();
  EXPECT_FALSE(p.w->step(0)) << "the only root is gone: watching ends";
  EXPECT_EQ(p.w->end_reason().code, ErrorCode::root_gone);
  EXPECT_NE(p.w->end_reason().message.find(rt), std::string::npos);
}

// The same root deleted and made again as a directory is another directory: inotify's watch
// would have ended with the old one, and so does polling.
TEST(Faults, PolledRootDeletedAndRemadeIsDeleted) {
  TempDir t;
  std::string rt = t / "rt";
  testing::make_dirs(rt);
  testing::write_file(rt + "/f", "1");
  PolledRoot p(rt);
  ASSERT_TRUE(p.w);
  testing::remove_all(rt);
  testing::make_dirs(rt);
  p.poll();
  ASSERT_FALSE(p.events.empty());
  EXPECT_EQ(p.events.back().kind, EventKind::remove) << p.dump();
  EXPECT_EQ(p.events.back().path, rt) << p.dump();
  EXPECT_FALSE(p.w->step(0));
  EXPECT_EQ(p.w->end_reason().code, ErrorCode::root_gone);
}

// A directory inside a polled tree made unreadable (as a user without CAP_DAC_OVERRIDE)
// still holds its entries: the pass must not report them deleted.
TEST(Faults, PolledUnreadableDirectoryIsNotReportedEmptied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads through chmod 000; run as a plain user";
  TempDir t;
  testing::make_dirs(t / "locked/sub");
  testing::write_file(t / "locked/f", "1");
  PolledRoot p(t.path());
  ASSERT_TRUE(p.w);
  ASSERT_EQ(::chmod((t / "locked").c_str(), 0), 0);
  p.poll();
  testing::write_file(t / "cookie", "");
  p.poll();
  ::chmod((t / "locked").c_str(), 0755);
  for (const auto& e : p.events) EXPECT_NE(e.kind, EventKind::remove) << p.dump();
  EXPECT_TRUE(any_create(p.events, t / "cookie")) << p.dump();
}

// inotify refuses an unreadable root (EACCES): polling used to accept it and poll nothing
// for ever. It refuses it too, naming the path.
TEST(Faults, PolledUnreadableRootIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads through chmod 000; run as a plain user";
  TempDir t;
  testing::make_dirs(t / "r");
  ASSERT_EQ(::chmod((t / "r").c_str(), 0), 0);
  WatchOptions o;
  o.paths = {t / "r"};
  o.backend = BackendChoice::poll;
  auto w = Watcher::create(o);
  ASSERT_TRUE(w);
  auto started = (*w)->start();
  ::chmod((t / "r").c_str(), 0755);
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find(t / "r"), std::string::npos) << started.error().message;
}

// An overflow's rescan that cannot list (no fd left) used to diff the tree against an empty
// listing: every entry reported deleted although all is still there.
TEST(Faults, RescanWithoutFdsReportsNothingDeleted) {
  TempDir t;
  testing::make_dirs(t / "a/b");
  testing::write_file(t / "a/b/f", "1");
  testing::write_file(t / "g", "2");
  auto w = testing::start_watcher(watch_options(t.path(), BackendChoice::inotify));
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  {
    FdExhaustion no_fds;
    ASSERT_TRUE(no_fds.full());
    w->rescan_now("test");
  }
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  for (const auto& e : r.events()) EXPECT_NE(e.kind, EventKind::remove) << r.dump();
  // Still watched everywhere.
  testing::write_file(t / "a/b/h", "3");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "a/b/h")) << r.dump();
}

// The same for a directory made unreadable (a plain user's chmod 000): inotify keeps its
// watch, and a rescan must not report what it holds deleted.
TEST(Faults, RescanOfUnreadableDirectoryReportsNothingDeleted) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads through chmod 000; run as a plain user";
  TempDir t;
  testing::make_dirs(t / "locked/sub");
  testing::write_file(t / "locked/f", "1");
  auto w = testing::start_watcher(watch_options(t.path(), BackendChoice::inotify));
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  ASSERT_EQ(::chmod((t / "locked").c_str(), 0), 0);
  w->rescan_now("test");
  bool synced = r.sync(t / "cookie");
  ::chmod((t / "locked").c_str(), 0755);
  ASSERT_TRUE(synced) << r.dump();
  for (const auto& e : r.events()) EXPECT_NE(e.kind, EventKind::remove) << r.dump();
}

// A chain of directories whose full path passes PATH_MAX, made and removed through dirfds
// (paths that long cannot be named whole; std::filesystem cannot remove them either).
class DeepChain {
 public:
  DeepChain(const std::string& base, int levels) : base_(base), name_(200, 'n') {
    int fd = ::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < levels && fd >= 0; ++i) {
      if (::mkdirat(fd, name_.c_str(), 0755) != 0) break;
      int next = ::openat(fd, name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      ::close(fd);
      fd = next;
      ++made_;
    }
    if (fd >= 0) {
      int f = ::openat(fd, "deepfile", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (f >= 0) ::close(f);
      ::close(fd);
    }
  }
  ~DeepChain() {
    // Deepest first: walk down keeping every fd, then unlink back up.
    std::vector<int> fds{::open(base_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    for (int i = 0; i < made_ && fds.back() >= 0; ++i) {
      fds.push_back(::openat(fds.back(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    }
    if (fds.back() >= 0) ::unlinkat(fds.back(), "deepfile", 0);
    for (std::size_t i = fds.size() - 1; i > 0; --i) {
      if (fds[i - 1] >= 0) ::unlinkat(fds[i - 1], name_.c_str(), AT_REMOVEDIR);
    }
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  int made() const { return made_; }

 private:
  std::string base_, name_;
  int made_ = 0;
};

// A tree holding a path longer than PATH_MAX: no crash, no hang, and the part that cannot be
// watched is named with the reason and what to do instead (it is not left silently blind).
TEST(Faults, PathLongerThanPathMaxIsNamedNotSilentlyBlind) {
  TempDir t;
  DeepChain chain(t.path(), 25);  // 25 * 201 bytes: past 4096
  ASSERT_EQ(chain.made(), 25);
  std::string said;
  auto w = testing::start_watcher(watch_options(t.path(), BackendChoice::inotify, &said));
  ASSERT_TRUE(w);
  EXPECT_NE(said.find("PATH_MAX"), std::string::npos) << said;
  testing::Recorder r(*w);
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
}

// Root only from here: real tmpfs mounts.

// A polled root on a tmpfs that is unmounted: the directory underneath shows through (another
// st_dev). Before, nothing was reported and watching went on; now `unmount`, the root
// deleted, and the end, as with inotify's IN_UNMOUNT.
LOOKOUT_TEST(FaultsRoot, PolledTmpfsRootUnmountEndsWatching, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
  testing::TmpfsMount m;
  if (!m.ok()) GTEST_SKIP() << "cannot mount tmpfs here: " << m.why();
  testing::make_dirs(m.path() + "/d");
  testing::write_file(m.path() + "/d/f", "1");
  PolledRoot p(m.path());
  ASSERT_TRUE(p.w);
  ASSERT_EQ(testing::sh("umount -l " + m.path()), 0);
  p.poll();
  ASSERT_GE(p.events.size(), 2u) << p.dump();
  EXPECT_EQ(p.events.front().kind, EventKind::unmount) << p.dump();
  EXPECT_EQ(p.events.front().path, m.path()) << p.dump();
  EXPECT_EQ(p.events.back().kind, EventKind::remove) << p.dump();
  EXPECT_EQ(p.events.back().path, m.path()) << p.dump();
  EXPECT_FALSE(p.w->step(0));
  EXPECT_EQ(p.w->end_reason().code, ErrorCode::root_gone);
  EXPECT_NE(p.w->end_reason().message.find("unmounted"), std::string::npos)
      << p.w->end_reason().message;
}

// inotify sends IN_UNMOUNT to every watch on the unmounted filesystem. Those of directories
// inside it were handled as mount points: "unmount mnt/d, delete mnt/d, create mnt/d" (the
// create bogus: nothing is there). Only the mount point stands for the mount.
LOOKOUT_TEST(FaultsRoot, UnmountedRootTmpfsReportsNoCreate, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
  testing::TmpfsMount m;
  if (!m.ok()) GTEST_SKIP() << "cannot mount tmpfs here: " << m.why();
  testing::make_dirs(m.path() + "/d/e");
  testing::make_dirs(m.path() + "/g");
  auto w = testing::start_watcher(watch_options(m.path(), BackendChoice::inotify));
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  ASSERT_EQ(testing::sh("umount -l " + m.path()), 0);
  ASSERT_TRUE(r.wait_for(EventKind::remove, m.path())) << r.dump();
  for (const auto& e : r.events()) {
    EXPECT_NE(e.kind, EventKind::create) << r.dump();
    if (e.kind == EventKind::unmount) {
      EXPECT_EQ(e.path, m.path()) << r.dump();
    }
  }
  EXPECT_EQ(r.count(EventKind::unmount, m.path()), 1u) << r.dump();
  EXPECT_FALSE(w->step(0));
  EXPECT_EQ(w->end_reason().code, ErrorCode::root_gone);
}

// The same inside a tree: a submount with directories in it is unmounted. Only the mount
// point is reported unmounted and then created (the directory underneath); nothing of what
// the mount held comes back as created.
LOOKOUT_TEST(FaultsRoot, UnmountedSubmountReportsOnlyItsMountPointCreated, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
  TempDir t;
  testing::Submount mnt(t / "mnt", "-t tmpfs -o size=1m lookout-test");
  if (!mnt.ok()) GTEST_SKIP() << "cannot mount tmpfs here";
  testing::make_dirs(t / "mnt/d/e");
  testing::write_file(t / "mnt/d/f", "1");
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::inotify;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  ASSERT_EQ(testing::sh("umount -l " + (t / "mnt")), 0);
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mnt")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  EXPECT_EQ(r.count(EventKind::unmount, t / "mnt"), 1u) << r.dump();
  for (const auto& e : r.events()) {
    if (e.kind == EventKind::unmount) {
      EXPECT_EQ(e.path, t / "mnt") << r.dump();
    }
    if (e.kind == EventKind::create) {
      EXPECT_TRUE(e.path == t / "mnt" || e.path == t / "cookie") << r.dump();
    }
  }
  EXPECT_EQ(r.count(EventKind::remove, t / "mnt/d/e"), 1u) << r.dump();
}

// The engine stats new entries through O_PATH fds of their directories, and an O_PATH fd
// pins its mount: a plain (not lazy) umount right after a burst in a watched submount must
// not fail with EBUSY because of lookout. Once the cookie (outside the mount) is seen, the
// step that read the burst has ended, and with it every such fd.
LOOKOUT_TEST(FaultsRoot, PlainUnmountRightAfterABurstIsNotBusy, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
  TempDir t;
  testing::Submount mnt(t / "mnt", "-t tmpfs -o size=1m lookout-test");
  if (!mnt.ok()) GTEST_SKIP() << "cannot mount tmpfs here";
  testing::make_dirs(t / "mnt/d");
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::inotify;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  for (int i = 0; i < 200; ++i) testing::write_file(t / ("mnt/d/f" + std::to_string(i)), "");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mnt/d/f199")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  EXPECT_EQ(testing::sh("umount " + (t / "mnt")), 0) << "busy: an fd of lookout's pins the mount";
  ASSERT_TRUE(r.wait_for(EventKind::unmount, t / "mnt")) << r.dump();
}

// Auto mode polls a pseudo filesystem mounted inside an inotify tree (mqueue: tiny, empty).
// Unmounted, it had no watch to say so: the next pass reports `unmount`, and the directory
// underneath comes back created and watched by inotify.
LOOKOUT_TEST(FaultsRoot, PolledSubmountUnmountIsReportedAndTheDirectoryWatched, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount";
  TempDir t;
  testing::Submount mq(t / "mq", "-t mqueue lookout-test");
  if (!mq.ok()) GTEST_SKIP() << "cannot mount an mqueue filesystem here";
  auto w = testing::start_watcher(watch_options(t.path(), BackendChoice::auto_select));
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>& ev) {
    return std::any_of(ev.begin(), ev.end(), [&](const Event& e) {
      return e.kind == EventKind::backend && e.path == t / "mq" && e.reason.rfind("poll", 0) == 0;
    });
  })) << "the mqueue mount is polled\n" << r.dump();
  ASSERT_EQ(testing::sh("umount -l " + (t / "mq")), 0);
  w->poll_now();
  ASSERT_TRUE(r.wait_for(EventKind::unmount, t / "mq")) << r.dump();
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mq")) << r.dump();
  EXPECT_EQ(w->stats().polled_dirs, 0u);
  // Watched by inotify now, not polled: a change is reported without a pass.
  testing::write_file(t / "mq/x", "1");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mq/x")) << r.dump();
}

}  // namespace
}  // namespace lookout
