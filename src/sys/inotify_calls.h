// Thin wrappers over inotify(7): init, add/remove watch and a non-blocking read.
// No policy here: the backend decides masks, the engine decides what events mean.
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

}  // namespace lookout::sys
