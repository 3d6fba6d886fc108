#include "sys/waiter.h"

#include <time.h>

namespace lookout::sys {

namespace {
class RealWaiter final : public Waiter {
 public:
  int poll(pollfd* fds, nfds_t n, int timeout_ms) override { return ::poll(fds, n, timeout_ms); }
  void sleep_ms(int ms) override {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    ::nanosleep(&ts, nullptr);
  }
};
}  // namespace

Waiter& real_waiter() {
  static RealWaiter waiter;
  return waiter;
}

}  // namespace lookout::sys
