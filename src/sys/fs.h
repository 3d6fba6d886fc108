// Fs: the filesystem calls the watcher's loop and its scanner make (stat, open a directory,
// list it), behind one interface so unit tests can run the engine over an in-memory tree
// (tests/support/fake_fs.h; leveldb's Env). real_fs() is the kernel's. Implementations
// must be usable from one thread at a time; the real one is stateless and thread-safe.
#pragma once

#include <vector>

#include "sys/dir_reader.h"
#include "sys/file_stat.h"

namespace lookout::sys {

class Fs {
 public:
  virtual ~Fs() = default;
  // sys::stat_at / sys::stat_follow: 0 or an errno. dirfd is AT_FDCWD or from open_dir().
  virtual int stat_at(int dirfd, const char* name, FileStat& out) = 0;
  virtual int stat_follow(const char* path, FileStat& out) = 0;
  // open(2) of a directory with `flags` (O_DIRECTORY and the like): an fd, or -errno.
  // The fd is given back with close().
  virtual int open_dir(const char* path, int flags) = 0;
  virtual void close(int fd) = 0;
  // Every entry of an fd from open_dir() (DirReader::read's contract: names valid until the
  // next call, "." and ".." skipped). `reader` is the caller's buffer. 0 or an errno.
  virtual int read_dir(int dirfd, DirReader& reader, std::vector<DirEntry>& out) = 0;
};

Fs& real_fs();

// An fd from Fs::open_dir(), given back on destruction.
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
