// FakeWaiter: a sys::Waiter for tests on a FakeClock. The fds a test's watcher waits on are
// real eventfds (stop, resume, FakeInotify's), so readiness is looked at with a poll(2) that
// never blocks; when nothing is ready, the wait "lasts" its timeout: the clock moves by it.
// step(timeout) then runs timed duties (rescans, polling, retries) with no real waiting.
#pragma once

#include "support/fake_clock.h"
#include "sys/waiter.h"

namespace lookout::testing {

class FakeWaiter final : public sys::Waiter {
 public:
  explicit FakeWaiter(FakeClock& clock) : clock_(clock) {}
  int poll(pollfd* fds, nfds_t n, int timeout_ms) override {
    int ready = ::poll(fds, n, 0);
    if (ready == 0 && timeout_ms > 0) clock_.advance(timeout_ms);
    return ready;
  }
  void sleep_ms(int ms) override { clock_.advance(ms); }

 private:
  FakeClock& clock_;
};

}  // namespace lookout::testing
