// Watch and instance limits, lowered inside a private user namespace so the host's knobs are
// never touched (/proc/sys/user/max_inotify_* are per namespace:
// docs/kernel-facts.md#inotify-limits).
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout {
namespace {

bool write_proc(const std::string& path, const std::string& value) {
  std::ofstream f(path);
  f << value;
  f.flush();
  return static_cast<bool>(f);
}

// Runs `body` in a forked child inside a new user namespace with the given inotify limits.
// Returns the child's exit status; 77 means "namespace not available".
int in_user_namespace(long watches, long instances, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(77);
    write_proc("/proc/self/setgroups", "deny");
    if (!write_proc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_proc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      ::_exit(77);
    }
    if (!write_proc("/proc/sys/user/max_inotify_watches", std::to_string(watches)) ||
        !write_proc("/proc/sys/user/max_inotify_instances", std::to_string(instances))) {
      ::_exit(77);
    }
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

// With inotify forced, the limit is an error (auto mode polls the rest instead; see
// PollBackend.WatchLimitFallsBackToPollingTheRemainder).
TEST(Limits, WatchLimitIsOneClearErrorNamingTheSysctl) {
  testing::TempDir t;
  for (int i = 0; i < 30; ++i) testing::make_dirs(t / ("d" + std::to_string(i)));
  std::string root = t.path();
  int rc = in_user_namespace(10, 100, [&] {
    WatchOptions o;
    o.paths = {root};
    o.backend = BackendChoice::inotify;
    auto w = Watcher::create(o);
    if (!w) return 2;
    auto started = (*w)->start();
    if (started) return 3;  // must fail: 31 directories, 10 watches
    const Error& e = started.error();
    if (e.code != ErrorCode::watch_limit) return 4;
    if (e.message.find("max_inotify_watches=10") == std::string::npos) return 5;
    if (e.message.find("sysctl -w") == std::string::npos) return 6;
    if (e.message.find("No space left on device") == std::string::npos) return 7;
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "user namespaces are not available here";
  EXPECT_EQ(rc, 0) << "child check failed at step " << rc;
}

TEST(Limits, InstanceLimitIsOneClearError) {
  int rc = in_user_namespace(100, 0, [&] {
    testing::TempDir t;
    WatchOptions o;
    o.paths = {t.path()};
    auto w = Watcher::create(o);
    if (!w) return 2;
    auto started = (*w)->start();
    if (started) return 3;
    if (started.error().code != ErrorCode::instance_limit) return 4;
    if (started.error().message.find("max_user_instances") == std::string::npos) return 5;
    return 0;
  });
  if (rc == 77) GTEST_SKIP() << "user namespaces are not available here";
  EXPECT_EQ(rc, 0) << "child check failed at step " << rc;
}

// Root-only: a real mount under the tree, unmounted while watched.
LOOKOUT_TEST(Limits, UnmountOfSubmountIsReported, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
  testing::TempDir t;
  testing::Submount mnt(t / "mnt", "-t tmpfs -o size=1m lookout-test");
  if (!mnt.ok()) GTEST_SKIP() << "cannot mount tmpfs here";
  testing::write_file(t / "mnt/inside", "x");
  WatchOptions o;
  o.paths = {t.path()};
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  testing::Recorder r(*w);
  ASSERT_EQ(testing::sh("umount -l " + (t / "mnt")), 0);
  ASSERT_TRUE(r.wait_for(EventKind::unmount, t / "mnt")) << r.dump();
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mnt")) << "the underlying directory is back";
  ASSERT_TRUE(r.sync(t / "cookie"));
  EXPECT_EQ(w->stats().watches, 2u);
}

}  // namespace
}  // namespace lookout
