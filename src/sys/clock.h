// Clock: the loop's only source of time, so tests can drive timed duties (rescan backoff,
// polling interval, retries, state saves) by moving a fake clock instead of sleeping
// (leveldb's Env, Watchman's fake clock). SystemClock reads clock_gettime(2). Implementations
// must be thread-safe for reads; the watcher only reads from its loop thread.
#pragma once

#include <cstdint>

namespace lookout::sys {

class Clock {
 public:
  virtual ~Clock() = default;
  // CLOCK_MONOTONIC in ms: deadlines and intervals.
  virtual std::int64_t monotonic_ms() const = 0;
  // CLOCK_REALTIME in ns: event timestamps.
  virtual std::int64_t realtime_ns() const = 0;
  // CLOCK_REALTIME_COARSE in ns: what filesystems stamp mtime/ctime with (it may lag the
  // fine clock by a tick), to compare with stamps read back from the filesystem.
  virtual std::int64_t coarse_realtime_ns() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t monotonic_ms() const override;
  std::int64_t realtime_ns() const override;
  std::int64_t coarse_realtime_ns() const override;
};

// The process-wide real clock (stateless), the default for every watcher.
Clock& system_clock();

}  // namespace lookout::sys
