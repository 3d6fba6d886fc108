// mountinfo parsing and lookups, filesystem classification by magic number, the auto backend
// choice and the container hints: all pure, no kernel.
#include "sys/mountinfo.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "core/fs_kind.h"
#include "sys/container_probe.h"
#include "sys/fanotify_probe.h"

namespace lookout {
namespace {

using sys::MountEntry;

TEST(Mountinfo, ParsesALineWithoutOptionalFields) {
  auto m = sys::parse_mountinfo_line(
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->mount_id, 27);
  EXPECT_EQ(m->parent_id, 1);
  EXPECT_EQ(m->major, 254u);
  EXPECT_EQ(m->minor, 0u);
  EXPECT_EQ(m->root, "/");
  EXPECT_EQ(m->mount_point, "/");
  EXPECT_EQ(m->options, "rw,relatime");
  EXPECT_TRUE(m->optional_fields.empty());
  EXPECT_EQ(m->fstype, "ext4");
  EXPECT_EQ(m->source, "/dev/vda");
  EXPECT_EQ(m->super_options, "rw,discard,resv_strict");
}

TEST(Mountinfo, ParsesOptionalFieldsAndEscapes) {
  auto m = sys::parse_mountinfo_line(
      "36 35 98:0 /mnt1 /mnt/my\\040disk\\011tab\\134x rw,noatime master:1 shared:7 - "
      "fuse.sshfs user@host:/a\\040b rw,user_id=0");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->root, "/mnt1");
  EXPECT_EQ(m->mount_point, "/mnt/my disk\ttab\\x");
  ASSERT_EQ(m->optional_fields.size(), 2u);
  EXPECT_EQ(m->optional_fields[0], "master:1");
  EXPECT_EQ(m->optional_fields[1], "shared:7");
  EXPECT_EQ(m->fstype, "fuse.sshfs");
  EXPECT_EQ(m->source, "user@host:/a b");
  EXPECT_EQ(m->super_options, "rw,user_id=0");
}

TEST(Mountinfo, UnescapeKeepsWhatIsNotAnOctalEscape) {
  EXPECT_EQ(sys::unescape_mountinfo("a\\012b"), "a\nb");
  EXPECT_EQ(sys::unescape_mountinfo("a\\9b"), "a\\9b");
  EXPECT_EQ(sys::unescape_mountinfo("end\\04"), "end\\04");
  EXPECT_EQ(sys::unescape_mountinfo("\\"), "\\");
  EXPECT_EQ(sys::unescape_mountinfo("\\134\\134"), "\\\\");
}

TEST(Mountinfo, RejectsMalformedLines) {
  EXPECT_FALSE(sys::parse_mountinfo_line(""));
  EXPECT_FALSE(sys::parse_mountinfo_line("27 1 254:0 / / rw,relatime ext4 /dev/vda rw a b"));
  EXPECT_FALSE(sys::parse_mountinfo_line("x 1 254:0 / / rw - ext4 /dev/vda rw"));
  EXPECT_FALSE(sys::parse_mountinfo_line("27 1 2540 / / rw - ext4 /dev/vda rw"));
  auto bad = sys::parse_mountinfo_line("27 1 254:0 / / rw shared:1 -");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
}

// The table of this machine (kernel 6.18, a container), plus stacked and hidden mounts.
constexpr const char* kTable =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k\n"
    "26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "\n"
    "garbage line\n"
    "29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "40 27 0:40 / /srv/data rw - nfs4 server:/export rw,vers=4.2\n"
    "41 40 0:41 / /srv/data/cache rw - tmpfs tmpfs rw\n"
    "50 27 0:50 / /srv/data-old rw - xfs /dev/sdb rw\n"
    "60 27 0:60 / /mnt/a rw - tmpfs one rw\n"
    "61 60 0:61 / /mnt/a/b rw - tmpfs hidden-later rw\n"
    "62 60 0:62 / /mnt/a rw - tmpfs two rw\n"
    "63 62 0:63 / /mnt/a rw - tmpfs three rw\n";

TEST(Mountinfo, ParseSkipsBlankAndMalformedLines) {
  auto mounts = sys::parse_mountinfo(kTable);
  EXPECT_EQ(mounts.size(), 14u);
}

TEST(Mountinfo, FindsTheMountWithTheLongestPrefix) {
  auto mounts = sys::parse_mountinfo(kTable);
  auto at = [&](const char* path) {
    const MountEntry* m = sys::find_mount(mounts, path);
    return m ? m->mount_id : -1;
  };
  EXPECT_EQ(at("/"), 27);
  EXPECT_EQ(at("/home/user"), 27);
  EXPECT_EQ(at("/proc/self"), 22);
  EXPECT_EQ(at("/srv/data"), 40);
  EXPECT_EQ(at("/srv/data/x/y"), 40);
  EXPECT_EQ(at("/srv/data/cache/z"), 41);
  EXPECT_EQ(at("/srv/data-old/f"), 50);  // a prefix by bytes, not by components
  EXPECT_EQ(at("/srv/dat"), 27);
  EXPECT_EQ(at("/sys/fs/cgroup/cpu"), 31);
}

TEST(Mountinfo, StackedMountsResolveToTheTopOne) {
  auto mounts = sys::parse_mountinfo(kTable);
  EXPECT_EQ(sys::find_mount(mounts, "/dev/pts/0")->mount_id, 29);
  // /mnt/a: 60 was covered by 62, which 63 then covered; 61 sat on the hidden 60.
  EXPECT_EQ(sys::find_mount(mounts, "/mnt/a")->mount_id, 63);
  EXPECT_EQ(sys::find_mount(mounts, "/mnt/a/b")->mount_id, 63);
}

TEST(Mountinfo, SubmountsAreStrictlyBelowVisibleAndSorted) {
  auto mounts = sys::parse_mountinfo(kTable);
  auto ids = [&](const char* path) {
    std::vector<int> out;
    for (const MountEntry* m : sys::find_submounts(mounts, path)) out.push_back(m->mount_id);
    return out;
  };
  EXPECT_EQ(ids("/srv"), (std::vector<int>{40, 41, 50}));
  EXPECT_EQ(ids("/srv/data"), (std::vector<int>{41}));
  EXPECT_EQ(ids("/srv/data/cache"), (std::vector<int>{}));
  EXPECT_EQ(ids("/dev"), (std::vector<int>{29}));
  EXPECT_EQ(ids("/mnt"), (std::vector<int>{63}));
  EXPECT_EQ(ids("/").size(), 9u);  // proc sys dev dev/pts sys/fs/cgroup srv/data(+cache) -old mnt/a
}

TEST(Mountinfo, PathIsUnderComparesWholeComponents) {
  EXPECT_TRUE(sys::path_is_under("/a/b", "/a"));
  EXPECT_TRUE(sys::path_is_under("/a", "/a"));
  EXPECT_TRUE(sys::path_is_under("/a", "/"));
  EXPECT_FALSE(sys::path_is_under("/ab", "/a"));
  EXPECT_FALSE(sys::path_is_under("/", "/a"));
}

TEST(FsKind, LocalFilesystemsUseInotify) {
  for (auto [magic, name] : {std::pair{fs_magic::kExt4, "ext4"},
                             {fs_magic::kXfs, "xfs"},
                             {fs_magic::kBtrfs, "btrfs"},
                             {fs_magic::kTmpfs, "tmpfs"}}) {
    FsKind k = classify_fs(magic);
    EXPECT_EQ(k.fs_type, name);
    EXPECT_EQ(k.backend, BackendKind::inotify) << name;
    EXPECT_FALSE(k.is_remote || k.is_fuse || k.is_overlay || k.is_pseudo) << name;
    EXPECT_EQ(fs_magic_name(magic), name);
  }
  // ext3 shares ext4's magic; the fstype names it.
  EXPECT_EQ(classify_fs(fs_magic::kExt4, "ext3").fs_type, "ext3");
}

TEST(FsKind, RemoteFilesystemsArePolled) {
  for (std::uint64_t magic : {fs_magic::kNfs, fs_magic::kSmb, fs_magic::kCifs, fs_magic::kSmb2,
                              fs_magic::kV9fs, fs_magic::kCeph, fs_magic::kAfs, fs_magic::kKafs,
                              fs_magic::kCoda, fs_magic::kOcfs2, fs_magic::kGfs2}) {
    FsKind k = classify_fs(magic);
    EXPECT_TRUE(k.is_remote) << std::hex << magic;
    EXPECT_FALSE(k.is_fuse);
    EXPECT_EQ(k.backend, BackendKind::poll) << std::hex << magic;
    EXPECT_NE(k.reason.find("polling"), std::string::npos);
  }
  EXPECT_EQ(classify_fs(fs_magic::kNfs, "nfs4").fs_type, "nfs4");
  // A magic lookout does not know, with an fstype it does.
  EXPECT_EQ(classify_fs(0x12345678, "nfs4").backend, BackendKind::poll);
}

TEST(FsKind, EveryFuseMountIsPolledAndTheReasonNamesTheAttrCache) {
  for (const char* fstype : {"fuse", "fuse.bindfs", "fuse.sshfs", "virtiofs", ""}) {
    FsKind k = classify_fs(fs_magic::kFuse, fstype);
    EXPECT_TRUE(k.is_fuse) << fstype;
    EXPECT_EQ(k.backend, BackendKind::poll) << fstype;
    EXPECT_NE(k.reason.find("1 s"), std::string::npos) << k.reason;
  }
  EXPECT_TRUE(classify_fs(fs_magic::kFuse, "fuse.sshfs").is_remote);
  EXPECT_TRUE(classify_fs(fs_magic::kFuse, "virtiofs").is_remote);
  EXPECT_FALSE(classify_fs(fs_magic::kFuse, "fuse.bindfs").is_remote);
  EXPECT_EQ(classify_fs(fs_magic::kFuse, "virtiofs").fs_type, "virtiofs");
}

TEST(FsKind, OverlayUsesInotifyAndWarnsAboutItsLayers) {
  FsKind k =
      classify_fs(fs_magic::kOverlay, "overlay", "rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w");
  EXPECT_TRUE(k.is_overlay);
  EXPECT_EQ(k.backend, BackendKind::inotify);
  EXPECT_NE(k.reason.find("lowerdir /l1:/l2, upperdir /u"), std::string::npos) << k.reason;
  EXPECT_NE(k.reason.find("polling"), std::string::npos);
}

TEST(FsKind, PseudoAndUnknownFilesystems) {
  FsKind proc = classify_fs(fs_magic::kProc, "proc");
  EXPECT_TRUE(proc.is_pseudo);
  EXPECT_EQ(proc.backend, BackendKind::poll);
  FsKind unknown = classify_fs(0x12345678);
  EXPECT_EQ(unknown.fs_type, "unknown");
  EXPECT_EQ(unknown.backend, BackendKind::inotify);
  EXPECT_NE(unknown.reason.find("0x12345678"), std::string::npos);
}

TEST(ChooseBackend, FanotifyNeedsPrivilegeAWorkingProbeAndABigTree) {
  FsKind ext4 = classify_fs(fs_magic::kExt4, "ext4");
  ext4.mount_point = "/";
  sys::FanotifyProbe ok;
  ok.available = true;
  EXPECT_EQ(choose_backend(ext4, true, ok, kFanotifyMinDirs).backend, BackendKind::fanotify);
  auto small = choose_backend(ext4, true, ok, kFanotifyMinDirs - 1);
  EXPECT_EQ(small.backend, BackendKind::inotify);
  EXPECT_NE(small.reason.find("below"), std::string::npos) << small.reason;
  auto unpriv = choose_backend(ext4, false, ok, 100000);
  EXPECT_EQ(unpriv.backend, BackendKind::inotify);
  EXPECT_NE(unpriv.reason.find("CAP_SYS_ADMIN"), std::string::npos);

  sys::FanotifyProbe failed;
  failed.sys_errno = EXDEV;
  failed.failed_call = "fanotify_mark";
  failed.reason = sys::fanotify_failure_reason("fanotify_mark", EXDEV);
  auto sub = choose_backend(ext4, true, failed, 100000);
  EXPECT_EQ(sub.backend, BackendKind::inotify);
  EXPECT_NE(sub.reason.find("EXDEV"), std::string::npos) << sub.reason;
  EXPECT_NE(sub.reason.find("btrfs subvolume"), std::string::npos) << sub.reason;

  // Polling wins over everything.
  FsKind nfs = classify_fs(fs_magic::kNfs, "nfs4");
  EXPECT_EQ(choose_backend(nfs, true, ok, 100000).backend, BackendKind::poll);
}

TEST(FanotifyProbe, FailureReasonsNameTheErrnoAndTheCause) {
  EXPECT_NE(sys::fanotify_failure_reason("fanotify_mark", EOPNOTSUPP).find("overlay"),
            std::string::npos);
  EXPECT_NE(sys::fanotify_failure_reason("fanotify_mark", ENODEV).find("FUSE"), std::string::npos);
  std::string eperm = sys::fanotify_failure_reason("fanotify_mark", EPERM);
  EXPECT_EQ(eperm.rfind("fanotify_mark: EPERM", 0), 0u) << eperm;
  EXPECT_NE(eperm.find("CAP_SYS_ADMIN"), std::string::npos);
}

TEST(Container, CgroupHints) {
  EXPECT_EQ(sys::container_hint_from_cgroup("0::/\n"), "");
  EXPECT_EQ(sys::container_hint_from_cgroup("12:pids:/docker/0123abcd\n"), "docker");
  EXPECT_EQ(sys::container_hint_from_cgroup("0::/kubepods.slice/kubepods-pod1.slice/x\n"),
            "kubepods");
  EXPECT_EQ(sys::container_hint_from_cgroup("0::/machine.slice/libpod-1234.scope\n"), "libpod");
}

}  // namespace
}  // namespace lookout
