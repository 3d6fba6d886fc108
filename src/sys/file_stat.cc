#include "sys/file_stat.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <utility>
#include <vector>

namespace lookout::sys {

FileType file_type_from_mode(mode_t mode) {
  if (S_ISREG(mode)) return FileType::file;
  if (S_ISDIR(mode)) return FileType::dir;
  if (S_ISLNK(mode)) return FileType::symlink;
  return FileType::other;
}

FileType file_type_from_dirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return FileType::file;
    case DT_DIR: return FileType::dir;
    case DT_LNK: return FileType::symlink;
    case DT_UNKNOWN: return FileType::unknown;
    default: return FileType::other;
  }
}

namespace {

// Filesystems (by st_dev) found to refuse FS_IOC_GETVERSION. Without this memo, every entry
// of a filesystem that has neither a birth time nor generations (FUSE, NFS, overlay) would
// cost a failed open+ioctl, and an open there is a round trip to a server or a daemon. A fact
// about the kernel, not program state: a stale entry (a device number reused by a later
// mount) costs at most the fallback to size+mtime. Tiny (one entry per such filesystem).
class NoGenerationDevs {
 public:
  bool contains(std::uint64_t dev) {
    std::lock_guard lock(mu_);
    return std::find(devs_.begin(), devs_.end(), dev) != devs_.end();
  }
  void add(std::uint64_t dev) {
    std::lock_guard lock(mu_);
    if (std::find(devs_.begin(), devs_.end(), dev) == devs_.end()) devs_.push_back(dev);
  }

 private:
  std::mutex mu_;
  std::vector<std::uint64_t> devs_;
};

NoGenerationDevs& no_generation_devs() {
  static NoGenerationDevs devs;
  return devs;
}

// FS_IOC_GETVERSION needs an open fd: only regular files and directories are opened (opening
// a device or a FIFO can have side effects). O_NONBLOCK: never wait on a lease or a lock.
void add_generation(int dirfd, const char* name, int follow_flag, FileStat& out) {
  if (out.type != FileType::file && out.type != FileType::dir) return;
  if (no_generation_devs().contains(out.dev)) return;
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (follow_flag ? 0 : O_NOFOLLOW);
  const bool own_fd = name[0] != '\0';  // "": dirfd is the object itself (stat_fd)
  int fd = own_fd ? ::openat(dirfd, name, flags) : dirfd;
  if (fd < 0) return;  // EACCES and the like: this entry falls back to size+mtime
  int generation = 0;  // ext4, xfs and btrfs write an int, whatever the ioctl number says
  if (::ioctl(fd, FS_IOC_GETVERSION, &generation) == 0) {
    out.birth = static_cast<std::uint32_t>(generation);
    out.birth_kind = BirthKind::generation;
  } else if (errno == ENOTTY || errno == EOPNOTSUPP || errno == EINVAL) {
    no_generation_devs().add(out.dev);
  }
  if (own_fd) ::close(fd);
}

std::int64_t ns(const struct statx_timestamp& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

int stat_impl(int dirfd, const char* name, int flags, FileStat& out) {
  struct statx sx;
  // One syscall, the same work as fstatat: the birth time comes free where it is kept.
  if (::statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) return errno;
  out.type = file_type_from_mode(sx.stx_mode);
  out.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  out.ino = sx.stx_ino;
  out.size = sx.stx_size;
  out.mtime_ns = ns(sx.stx_mtime);
  out.ctime_ns = ns(sx.stx_ctime);
  out.mode = sx.stx_mode;
  out.nlink = static_cast<std::uint16_t>(std::min<std::uint32_t>(sx.stx_nlink, 0xffff));
  if (sx.stx_mask & STATX_BTIME) {
    out.birth = static_cast<std::uint64_t>(ns(sx.stx_btime));
    out.birth_kind = BirthKind::btime;
  } else {
    out.birth = 0;
    out.birth_kind = BirthKind::none;
    add_generation(dirfd, name, !(flags & AT_SYMLINK_NOFOLLOW), out);
  }
  return 0;
}

}  // namespace

int stat_at(int dirfd, const char* name, FileStat& out) {
  return stat_impl(dirfd, name, AT_SYMLINK_NOFOLLOW, out);
}

int stat_follow(const char* path, FileStat& out) { return stat_impl(AT_FDCWD, path, 0, out); }

int stat_fd(int fd, FileStat& out) { return stat_impl(fd, "", AT_EMPTY_PATH, out); }

}  // namespace lookout::sys
