// Fs: the filesystem calls the watcher's loop and its scanner make (stat, open a directory,
// list it, read a file for --checksum, the mount table), behind one interface so unit tests
// can run the engine over an in-memory tree (tests/support/fake_fs.h; leveldb's Env).
// real_fs() is the kernel's. Implementations must be usable from one thread at a time; the
// real one is stateless and thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/result.h"
#include "sys/dir_reader.h"
#include "sys/file_stat.h"
#include "sys/mountinfo.h"

namespace lookout::sys {

class Fs {
 public:
  virtual ~Fs() = default;
  // sys::stat_at / sys::stat_follow: 0 or an errno. dirfd is AT_FDCWD or from open_dir().
  virtual int stat_at(int dirfd, const char* name, FileStat& out) = 0;
  virtual int stat_follow(const char* path, FileStat& out) = 0;
  // fstat(2) of an fd from open_dir() or open_file_at(): 0 or an errno.
  virtual int fstat(int fd, FileStat& out) = 0;
  // open(2) of a directory with `flags` (O_DIRECTORY and the like): an fd, or -errno.
  // The fd is given back with close().
  virtual int open_dir(const char* path, int flags) = 0;
  // openat(2) of `name` in an fd from open_dir(), for reading: an fd, or -errno.
  virtual int open_file_at(int dirfd, const char* name, int flags) = 0;
  virtual void close(int fd) = 0;
  // read(2) of an fd from open_file_at(): bytes read, 0 at the end, or -errno.
  virtual ssize_t read(int fd, void* buf, std::size_t n) = 0;
  // A hint that `fd` is about to be read to its end (posix_fadvise SEQUENTIAL).
  virtual void advise_sequential(int /*fd*/) {}
  // Every entry of an fd from open_dir() (DirReader::read's contract: names valid until the
  // next call, "." and ".." skipped). `reader` is the caller's buffer. 0 or an errno.
  virtual int read_dir(int dirfd, DirReader& reader, std::vector<DirEntry>& out) = 0;

  // realpath(3): `path` with symlinks, "." and ".." resolved. 0 or an errno.
  virtual int real_path(const char* path, std::string& out) = 0;
  // getcwd(3): 0 or an errno.
  virtual int current_dir(std::string& out) = 0;
  // statfs(2)'s f_type of the filesystem holding `path`: 0 or an errno.
  virtual int fs_magic(const char* path, std::uint64_t& out) = 0;
  // The mount table (/proc/self/mountinfo).
  virtual Result<std::vector<MountEntry>> mounts() = 0;
  // An fd that polls POLLPRI when the mount table changes (fanotify has no IN_UNMOUNT), or
  // -errno; rearm_mount_notice() reads it to its end, which arms the next notification.
  virtual int open_mount_notice() = 0;
  virtual void rearm_mount_notice(int fd) = 0;
  // Whether an open_dir() with O_PATH raises no inotify records (OPEN, CLOSE_NOWRITE) on
  // the directory opened. 6.18 raises none (docs/kernel-facts.md#o-path-opens); an older
  // kernel may, and then lookout's own stat-relative opens would show up as reads of the
  // directory, to its own watch and to every other watcher. Default: not known to be silent.
  virtual bool path_opens_silent() { return false; }
};

Fs& real_fs();

// An fd from Fs::open_dir() or Fs::open_file_at(), given back on destruction.
class FsFd {
 public:
  FsFd(Fs& fs, int fd) : fs_(fs), fd_(fd) {}
  ~FsFd() {
    if (fd_ >= 0) fs_.close(fd_);
  }
  FsFd(const FsFd&) = delete;
  FsFd& operator=(const FsFd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  Fs& fs_;
  int fd_;
};

}  // namespace lookout::sys
