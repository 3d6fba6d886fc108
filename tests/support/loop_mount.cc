#include "support/loop_mount.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <gtest/gtest.h>

namespace lookout::testing {

bool have_program(const std::string& program) {
  return sh("command -v " + program + " >/dev/null 2>&1") == 0;
}

LoopMount::LoopMount(const std::string& mkfs_command, const std::string& size)
    : image_(base_ / "fs.img"), mnt_(base_ / "mnt") {
  if (::mkdir(mnt_.c_str(), 0755) != 0) {
    why_ = "mkdir " + mnt_ + ": " + std::strerror(errno);
    return;
  }
  if (sh("truncate -s " + size + " " + image_) != 0) {
    why_ = "truncate " + image_ + " failed";
    return;
  }
  if (sh(mkfs_command + " " + image_ + " >/dev/null 2>&1") != 0) {
    why_ = mkfs_command + " " + image_ + " failed";
    return;
  }
  // -o loop sets autoclear: the loop device goes away with the mount.
  if (sh("mount -o loop " + image_ + " " + mnt_ + " 2>/dev/null") != 0) {
    why_ = "mount -o loop " + image_ + " failed (no loop devices here?)";
    return;
  }
  mounted_ = true;
}

LoopMount::~LoopMount() {
  if (mounted_ && ::umount(mnt_.c_str()) != 0) {
    // Busy (a test left an fd open): detach lazily so the suite never wedges.
    if (::umount2(mnt_.c_str(), MNT_DETACH) != 0) {
      ADD_FAILURE() << "umount " << mnt_ << ": " << std::strerror(errno);
    }
  }
  // A loop device still bound to the image (autoclear not honoured, lazy unmount): detach.
  sh("for d in $(losetup -j " + image_ + " -O NAME -n 2>/dev/null); do losetup -d $d; done");
  ::unlink(image_.c_str());
  // base_ (a TempDir) removes the mount point directory.
}

}  // namespace lookout::testing
