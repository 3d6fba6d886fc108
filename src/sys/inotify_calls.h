// Thin wrappers over inotify(7): init, add/remove watch and a non-blocking read, as free
// functions and as the InotifyCalls seam the backend calls them through (tests substitute a
// scripted kernel: tests/support/fake_inotify.h). No policy here: the backend decides
// masks, the engine decides what events mean.
#pragma once

#include <cstdint>
#include <string>

#include "sys/unique_fd.h"

namespace lookout::sys {

// inotify_init1(IN_NONBLOCK | IN_CLOEXEC). Returns the fd or -errno.
int inotify_open();
// inotify_add_watch; returns the wd or -errno.
int inotify_add(int fd, const char* path, std::uint32_t mask);
void inotify_remove(int fd, int wd);
// read(2) that retries EINTR; returns bytes, 0 when nothing is queued, or -errno.
long read_nonblocking(int fd, void* buf, std::size_t len);

// The same four calls behind an interface. Same contracts as the functions above; the fd
// open() returns must be pollable (POLLIN when events are queued) and is closed with close(2).
class InotifyCalls {
 public:
  virtual ~InotifyCalls() = default;
  virtual int open() = 0;
  virtual int add(int fd, const char* path, std::uint32_t mask) = 0;
  virtual void remove(int fd, int wd) = 0;
  // Reads whole struct inotify_event records into buf.
  virtual long read(int fd, void* buf, std::size_t len) = 0;
};

// The kernel's, through the functions above. Stateless, thread-safe.
InotifyCalls& real_inotify_calls();

}  // namespace lookout::sys
