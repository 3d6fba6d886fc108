// Filesystem classification, the directory count and the fanotify probe on real mounts.
// The mount cases need root (tmpfs, overlay, bindfs) and skip otherwise; every mount is
// undone by a guard, even when an assertion fails.
#include "core/fs_kind.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/dir_count.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"
#include "sys/fanotify_probe.h"
#include "sys/mountinfo.h"

namespace lookout {
namespace {

std::string real(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// Unmounts (lazily, so a busy mount cannot wedge the suite) when the test ends.
class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  ~MountGuard() {
    if (::umount2(target_.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      ADD_FAILURE() << "umount " << target_ << ": " << std::strerror(errno);
    }
  }
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;

 private:
  std::string target_;
};

bool mount_tmpfs(const std::string& dir) {
  return ::mount("lookout-test", dir.c_str(), "tmpfs", 0, "size=4m") == 0;
}

TEST(FsKindKernel, ClassifiesATempDir) {
  testing::TempDir t;
  auto k = classify_path(t.path());
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_NE(k->fs_type, "");
  EXPECT_NE(k->magic, 0u);
  EXPECT_TRUE(sys::path_is_under(real(t.path()), k->mount_point))
      << real(t.path()) << " vs " << k->mount_point;
  EXPECT_FALSE(k->reason.empty());
  // The temp dir's magic agrees with what the mount table says, when lookout knows it.
  std::string_view name = fs_magic_name(k->magic);
  if (!name.empty() && name != "ext4") {
    EXPECT_EQ(k->fs_type.substr(0, name.size()), name);
  }
}

TEST(FsKindKernel, MissingPathIsAnError) {
  auto k = classify_path("/nonexistent/lookout-fs-kind");
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, ErrorCode::not_found);
  EXPECT_NE(k.error().message.find("/nonexistent/lookout-fs-kind"), std::string::npos);
}

TEST(DirCountKernel, CountsDirectoriesWithoutFollowingSymlinks) {
  testing::TempDir t;
  testing::make_dirs(t / "a/b/c");
  testing::make_dirs(t / "d");
  testing::write_file(t / "a/file", "x");
  ASSERT_EQ(::symlink((t / "a").c_str(), (t / "link-to-a").c_str()), 0);
  ASSERT_EQ(::symlink("/", (t / "link-to-root").c_str()), 0);
  DirCount c = count_dirs(t.path());
  EXPECT_EQ(c.dirs, 5u);  // root, a, a/b, a/b/c, d
  EXPECT_FALSE(c.truncated);
  EXPECT_EQ(c.unreadable, 0u);

  DirCount limited = count_dirs(t.path(), 3);
  EXPECT_EQ(limited.dirs, 3u);
  EXPECT_TRUE(limited.truncated);

  DirCount regions = count_dirs(t.path(), kDirCountLimit, {t / "a"}, {t / "d"});
  ASSERT_EQ(regions.per_region.size(), 2u);
  EXPECT_EQ(regions.per_region[0], 2u);  // root, d
  EXPECT_EQ(regions.per_region[1], 3u);  // a, a/b, a/b/c
}

TEST(FanotifyKernel, CapabilityMatchesProcStatus) {
  std::ifstream status("/proc/self/status");
  std::string line;
  unsigned long long eff = 0;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) eff = std::stoull(line.substr(7), nullptr, 16);
  }
  EXPECT_EQ(sys::has_cap_sys_admin(), ((eff >> 21) & 1) != 0);
}

LOOKOUT_TEST(FanotifyKernel, UnprivilegedFilesystemMarkIsEperm, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to drop to uid 65534";
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(99);
    }
    sys::FanotifyProbe p = sys::probe_fanotify("/");
    ::_exit(p.available ? 98 : p.sys_errno);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), EPERM);
}

LOOKOUT_TEST(FsKindKernel, TmpfsSubmountIsFoundAndUsesInotify, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting needs root";
  testing::TempDir t;
  testing::make_dirs(t / "mnt");
  testing::make_dirs(t / "plain/x");
  ASSERT_TRUE(mount_tmpfs(t / "mnt")) << std::strerror(errno);
  MountGuard guard(t / "mnt");
  testing::make_dirs(t / "mnt/sub/deeper");

  auto k = classify_path(t / "mnt/sub");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->fs_type, "tmpfs");
  EXPECT_EQ(k->magic, fs_magic::kTmpfs);
  EXPECT_EQ(k->backend, BackendKind::inotify);
  EXPECT_EQ(k->mount_point, real(t / "mnt"));
  EXPECT_EQ(k->source, "lookout-test");

  auto mounts = sys::read_mountinfo();
  ASSERT_TRUE(mounts);
  auto subs = sys::find_submounts(*mounts, real(t.path()));
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_EQ(subs[0]->mount_point, real(t / "mnt"));
  EXPECT_EQ(subs[0]->fstype, "tmpfs");

  DirCount c = count_dirs(real(t.path()), kDirCountLimit, {real(t / "mnt")});
  EXPECT_EQ(c.dirs, 6u);  // root, plain, plain/x, mnt, mnt/sub, mnt/sub/deeper
  EXPECT_EQ(c.per_region[0], 3u);
  EXPECT_EQ(c.per_region[1], 3u);

  if (sys::has_cap_sys_admin()) {
    sys::FanotifyProbe p = sys::probe_fanotify(t / "mnt");
    EXPECT_TRUE(p.available) << p.reason;
    auto choice = recommend_backend(t / "mnt", kFanotifyMinDirs);
    ASSERT_TRUE(choice);
    EXPECT_EQ(choice->backend, BackendKind::fanotify) << choice->reason;
    auto few = recommend_backend(t / "mnt", 3);
    ASSERT_TRUE(few);
    EXPECT_EQ(few->backend, BackendKind::inotify);
  }
}

LOOKOUT_TEST(FsKindKernel, OverlayUsesInotifyAndFanotifyMarkIsEopnotsupp, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting needs root";
  testing::TempDir t;
  for (const char* d : {"lower", "upper", "work", "merged"}) testing::make_dirs(t / d);
  std::string opts =
      "lowerdir=" + (t / "lower") + ",upperdir=" + (t / "upper") + ",workdir=" + (t / "work");
  if (::mount("overlay", (t / "merged").c_str(), "overlay", 0, opts.c_str()) != 0) {
    GTEST_SKIP() << "overlay mount failed: " << std::strerror(errno);
  }
  MountGuard guard(t / "merged");
  auto k = classify_path(t / "merged");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->is_overlay);
  EXPECT_EQ(k->backend, BackendKind::inotify);
  EXPECT_NE(k->reason.find("upperdir " + real(t / "upper")), std::string::npos) << k->reason;
  if (sys::has_cap_sys_admin()) {
    sys::FanotifyProbe p = sys::probe_fanotify(t / "merged");
    EXPECT_FALSE(p.available);
    EXPECT_EQ(p.sys_errno, EOPNOTSUPP) << p.reason;
    EXPECT_EQ(p.failed_call, "fanotify_mark");
  }
}

LOOKOUT_TEST(FsKindKernel, BindfsFuseMountIsPolled, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting needs root";
  if (testing::sh("command -v bindfs >/dev/null 2>&1") != 0 || ::access("/dev/fuse", R_OK) != 0) {
    GTEST_SKIP() << "bindfs or /dev/fuse not available";
  }
  testing::TempDir t;
  testing::make_dirs(t / "src/d");
  testing::make_dirs(t / "fuse");
  ASSERT_EQ(testing::sh("bindfs '" + (t / "src") + "' '" + (t / "fuse") + "'"), 0);
  MountGuard guard(t / "fuse");
  auto k = classify_path(t / "fuse");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->magic, fs_magic::kFuse);
  EXPECT_TRUE(k->is_fuse);
  EXPECT_EQ(k->backend, BackendKind::poll);
  EXPECT_EQ(k->mount_point, real(t / "fuse"));
  if (sys::has_cap_sys_admin()) {
    sys::FanotifyProbe p = sys::probe_fanotify(t / "fuse");
    EXPECT_FALSE(p.available);
    EXPECT_EQ(p.sys_errno, ENODEV) << p.reason;
    auto choice = recommend_backend(t / "fuse", 100000);
    ASSERT_TRUE(choice);
    EXPECT_EQ(choice->backend, BackendKind::poll);
  }
}

}  // namespace
}  // namespace lookout
