// FanotifyBackend: one fanotify group with filesystem marks reporting directory handles and
// names (FAN_REPORT_DFID_NAME). One mark covers a whole filesystem: no per-directory watches,
// no watch limit, no race with new directories, and setup in microseconds
// (docs/kernel-facts.md#fanotify-setup-cost). Passive like InotifyBackend: it owns the fd and the
// marks, drains without blocking, and turns directory handles into keys and, on request, into
// current paths. What an event means for the tree is the watcher's business. Not thread-safe: loop
// thread only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lookout/result.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

// A key's first bytes (see FanEvent): the fsid and the handle type, the same for every
// directory of a filesystem (core::HandleIndex stores them once per filesystem).
inline constexpr std::size_t kKeyPrefixBytes = 8 + sizeof(int);

// One fanotify record. A directory is named by its key: fsid + handle type + handle bytes,
// the same bytes key_of() gives for a directory lookout has open.
struct FanEvent {
  std::uint64_t mask = 0;  // FAN_* bits; several when the kernel merged records
  int pid = 0;             // who caused it (the host pid)
  std::string dir_key;     // the directory holding `name` (FAN_RENAME: the old directory)
  std::string name;        // "." for events on a directory itself
  std::string to_dir_key;  // FAN_RENAME only: the new directory and name
  std::string to_name;
  // The object itself (FAN_REPORT_TARGET_FID, Linux 5.17+): for a directory, the key its
  // own events will carry. Empty on older kernels.
  std::string target_key;
};

// What the watcher asks of a fanotify group: the seam a unit test replaces with a scripted
// one (tests/support/fake_fanotify.h). FanotifyBackend is the kernel's.
class Fanotify {
 public:
  virtual ~Fanotify() = default;
  // Marks the filesystem holding the directory `path` (once per filesystem). The error's
  // message names the path, the errno and why (overlay, FUSE, btrfs subvolume, privilege).
  virtual Result<void> mark(const std::string& path) = 0;
  virtual bool marked(std::uint64_t dev) const = 0;
  virtual std::size_t mark_count() const = 0;

  virtual int fd() const = 0;
  // Reads what is queued now, up to about max_events; returns how many were read.
  virtual Result<std::size_t> drain(std::vector<FanEvent>& out, std::size_t max_events) = 0;

  // The key of the directory open as `dirfd` (an fd from sys::Fs::open_dir) on device `dev`;
  // empty when the filesystem is not marked or the handle cannot be taken.
  virtual std::string key_of(int dirfd, std::uint64_t dev) = 0;
  // The same for the entry `name` of the directory open as `dirfd` (not followed).
  virtual std::string key_of(int dirfd, const std::string& name, std::uint64_t dev) = 0;
  // The directory's current path (open_by_handle_at + /proc/self/fd); empty when it no
  // longer exists (ESTALE) or its filesystem is not marked.
  virtual std::string resolve(const std::string& key) const = 0;
  // The key of the entry `name` in the directory `dir_key` now, wherever that directory has
  // moved; empty when either is gone. What a record's object is doing now, in event-order
  // terms: the path a model gives may lag renames still queued.
  virtual std::string key_in(const std::string& dir_key, const std::string& name) const = 0;
};

class FanotifyBackend final : public Fanotify {
 public:
  // fanotify_init for notification with directory handles and names, and the target's
  // handle where the kernel has it (5.17+). `mask` is what marks will ask for
  // (FAN_CREATE | ...). EPERM without CAP_SYS_ADMIN, EINVAL on old kernels.
  static Result<FanotifyBackend> open(std::uint64_t mask);

  Result<void> mark(const std::string& path) override;
  bool marked(std::uint64_t dev) const override { return fsid_of_dev_.count(dev) != 0; }
  std::size_t mark_count() const override { return mounts_.size(); }
  int fd() const override { return fd_.get(); }
  Result<std::size_t> drain(std::vector<FanEvent>& out, std::size_t max_events) override;
  std::string key_of(int dirfd, std::uint64_t dev) override;
  std::string key_of(int dirfd, const std::string& name, std::uint64_t dev) override;
  std::string resolve(const std::string& key) const override;
  std::string key_in(const std::string& dir_key, const std::string& name) const override;

 private:
  FanotifyBackend(sys::UniqueFd fd, std::uint64_t mask)
      : fd_(std::move(fd)), mask_(mask), buf_(64 * 1024) {}
  sys::UniqueFd fd_;
  std::uint64_t mask_;
  std::vector<char> buf_;
  // A directory per marked filesystem, by fsid bytes: where open_by_handle_at's mount_fd is
  // opened when needed. A path, not a held fd: an open fd would make umount fail (EBUSY).
  std::unordered_map<std::string, std::string> mounts_;
  std::unordered_map<std::uint64_t, std::string> fsid_of_dev_;
  // The directory with this key, opened O_PATH (invalid when gone or not marked).
  sys::UniqueFd open_key(const std::string& key) const;
  std::string key_at(int dirfd, const std::string& name, const std::string& fsid) const;
};

}  // namespace lookout::backend
