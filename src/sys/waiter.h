// Waiter: how the loop waits (poll(2) with a timeout, a short sleep), behind a seam so a test
// with a fake clock can run step(timeout) without waiting: its waiter looks at the fds without
// blocking and, if none is ready, moves the fake clock by the timeout instead
// (tests/support/fake_waiter.h). real_waiter() is the kernel's; stateless, thread-safe.
#pragma once

#include <poll.h>

namespace lookout::sys {

class Waiter {
 public:
  virtual ~Waiter() = default;
  // poll(2): the number of ready fds, 0 on timeout, -1 with errno set.
  virtual int poll(pollfd* fds, nfds_t n, int timeout_ms) = 0;
  virtual void sleep_ms(int ms) = 0;
};

Waiter& real_waiter();

}  // namespace lookout::sys
