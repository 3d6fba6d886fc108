// Test support (root only): a filesystem made with mkfs on an image file and loop-mounted
// under a TempDir. The destructor always unmounts, detaches the loop device and deletes the
// image, also when the test failed half-way, so no fixture outlives its test.
#pragma once

#include <string>

#include "support/test_dirs.h"

namespace lookout::testing {

class LoopMount {
 public:
  // mkfs_command: e.g. "mkfs.ext4 -q -F -I 128"; the image path is appended. On failure
  // ok() is false and why() says what failed.
  explicit LoopMount(const std::string& mkfs_command, const std::string& size = "64M");
  ~LoopMount();
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;

  bool ok() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return mnt_; }  // the mount point

 private:
  TempDir base_;
  std::string image_, mnt_, why_;
  bool mounted_ = false;
};

// True if `program` is on PATH.
bool have_program(const std::string& program);

}  // namespace lookout::testing
