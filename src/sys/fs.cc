#include "sys/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace lookout::sys {

namespace {
class RealFs final : public Fs {
 public:
  int stat_at(int dirfd, const char* name, FileStat& out) override {
    return sys::stat_at(dirfd, name, out);
  }
  int stat_follow(const char* path, FileStat& out) override { return sys::stat_follow(path, out); }
  int open_dir(const char* path, int flags) override {
    int fd = ::open(path, flags);
    return fd >= 0 ? fd : -errno;
  }
  void close(int fd) override { ::close(fd); }
  int read_dir(int dirfd, DirReader& reader, std::vector<DirEntry>& out) override {
    return reader.read(dirfd, out);
  }
};
}  // namespace

Fs& real_fs() {
  static RealFs fs;
  return fs;
}

}  // namespace lookout::sys
