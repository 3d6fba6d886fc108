#include "sys/clock.h"

#include <time.h>

namespace lookout::sys {

namespace {
std::int64_t read_ns(clockid_t id) {
  timespec ts;
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

std::int64_t SystemClock::monotonic_ms() const { return read_ns(CLOCK_MONOTONIC) / 1000000; }
std::int64_t SystemClock::realtime_ns() const { return read_ns(CLOCK_REALTIME); }
std::int64_t SystemClock::coarse_realtime_ns() const { return read_ns(CLOCK_REALTIME_COARSE); }

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace lookout::sys
