#include "sys/fs.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "sys/close_in_background.h"

namespace lookout::sys {

namespace {
constexpr const char* kMountTable = "/proc/self/mountinfo";

// Opens "/" with O_PATH under a private inotify watch and looks for its OPEN record. Only
// records about "/" itself count (len 0), not its entries' (another process listing /tmp);
// another process opening "/" at that moment makes the answer "not silent", which only
// costs speed (docs/kernel-facts.md#o-path-opens).
bool probe_path_opens_silent() {
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return false;
  bool silent = false;
  if (::inotify_add_watch(in, "/", IN_OPEN | IN_CLOSE_NOWRITE | IN_ONLYDIR) >= 0) {
    const int fd = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      silent = true;
      alignas(inotify_event) char buf[4096];
      const ssize_t got = ::read(in, buf, sizeof buf);
      for (ssize_t off = 0; got > 0 && off < got;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len == 0) silent = false;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
  }
  close_in_background(UniqueFd(in));  // it held a mark: its close waits a grace period
  return silent;
}

class RealFs final : public Fs {
 public:
  int stat_at(int dirfd, const char* name, FileStat& out) override {
    return sys::stat_at(dirfd, name, out);
  }
  int stat_follow(const char* path, FileStat& out) override { return sys::stat_follow(path, out); }
  int fstat(int fd, FileStat& out) override { return sys::stat_fd(fd, out); }
  int open_dir(const char* path, int flags) override {
    int fd = ::open(path, flags);
    return fd >= 0 ? fd : -errno;
  }
  int open_file_at(int dirfd, const char* name, int flags) override {
    int fd = ::openat(dirfd, name, flags);
    return fd >= 0 ? fd : -errno;
  }
  void close(int fd) override { ::close(fd); }
  ssize_t read(int fd, void* buf, std::size_t n) override {
    for (;;) {
      ssize_t got = ::read(fd, buf, n);
      if (got >= 0) return got;
      if (errno != EINTR) return -errno;
    }
  }
  void advise_sequential(int fd) override { ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); }
  int read_dir(int dirfd, DirReader& reader, std::vector<DirEntry>& out) override {
    return reader.read(dirfd, out);
  }
  int real_path(const char* path, std::string& out) override {
    char buf[PATH_MAX];
    if (!::realpath(path, buf)) return errno;
    out = buf;
    return 0;
  }
  int current_dir(std::string& out) override {
    char buf[PATH_MAX];
    if (!::getcwd(buf, sizeof buf)) return errno;
    out = buf;
    return 0;
  }
  int fs_magic(const char* path, std::uint64_t& out) override {
    struct statfs sf;
    if (::statfs(path, &sf) != 0) return errno;
    out = static_cast<std::uint64_t>(static_cast<std::uint32_t>(sf.f_type));
    return 0;
  }
  Result<std::vector<MountEntry>> mounts() override { return read_mountinfo(kMountTable); }
  int open_mount_notice() override {
    int fd = ::open(kMountTable, O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
  }
  void rearm_mount_notice(int fd) override {
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    while (::read(fd, buf, sizeof buf) > 0) {
    }
  }
  bool path_opens_silent() override {
    static const bool silent = probe_path_opens_silent();  // a fact about the kernel
    return silent;
  }
};
}  // namespace

Fs& real_fs() {
  static RealFs fs;
  return fs;
}

}  // namespace lookout::sys
