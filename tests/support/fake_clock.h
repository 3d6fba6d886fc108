// FakeClock: a sys::Clock that moves only when a test says so. Monotonic and realtime move
// together (advance()), so deadlines and timestamps stay consistent. Loop thread only.
#pragma once

#include <cstdint>

#include "sys/clock.h"

namespace lookout::testing {

class FakeClock final : public sys::Clock {
 public:
  std::int64_t monotonic_ms() const override { return mono_ms_; }
  std::int64_t realtime_ns() const override { return real_ns_; }
  std::int64_t coarse_realtime_ns() const override { return real_ns_; }
  void advance(std::int64_t ms) {
    mono_ms_ += ms;
    real_ns_ += ms * 1000000;
  }

 private:
  std::int64_t mono_ms_ = 1000000;  // far from 0: "never happened" (0, -1000000) stays past
  std::int64_t real_ns_ = 1700000000LL * 1000000000;
};

}  // namespace lookout::testing
