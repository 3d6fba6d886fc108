#include "sys/inotify_calls.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

namespace lookout::sys {

int inotify_open() {
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

int inotify_add(int fd, const char* path, std::uint32_t mask) {
  int wd = ::inotify_add_watch(fd, path, mask);
  return wd >= 0 ? wd : -errno;
}

void inotify_remove(int fd, int wd) { ::inotify_rm_watch(fd, wd); }

long read_nonblocking(int fd, void* buf, std::size_t len) {
  for (;;) {
    ssize_t n = ::read(fd, buf, len);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    return -errno;
  }
}

namespace {
class RealInotifyCalls final : public InotifyCalls {
 public:
  int open() override { return inotify_open(); }
  int add(int fd, const char* path, std::uint32_t mask) override { return inotify_add(fd, path, mask); }
  void remove(int fd, int wd) override { inotify_remove(fd, wd); }
  long read(int fd, void* buf, std::size_t len) override { return read_nonblocking(fd, buf, len); }
};
}  // namespace

InotifyCalls& real_inotify_calls() {
  static RealInotifyCalls calls;
  return calls;
}

}  // namespace lookout::sys
