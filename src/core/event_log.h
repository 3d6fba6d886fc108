// EventLog: the sequenced hand-over between the watcher's loop (producer) and the front end
// (consumer). The loop never blocks on it; memory is bounded: identical pending changes to
// one path are coalesced, and once `max_pending` events wait unconsumed the loop stops
// reading the kernel (its queue absorbs the burst, and if that overflows the engine rescans
// and diffs once the consumer has caught up) instead of growing without limit.
// Thread-safe: append/over_limit on the loop thread, take() on one consumer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lookout/event.h"
#include "sys/unique_fd.h"

namespace lookout::core {

class EventLog {
 public:
  explicit EventLog(std::size_t max_pending);

  // Loop thread. Assigns the next seq unless the event coalesces with a pending one.
  void append(Event e);
  // Loop thread: true while the consumer is too far behind to keep reading the kernel.
  bool over_limit() const;
  // Readable when the consumer has drained below the low watermark after being over it.
  int resume_fd() const { return resume_fd_.get(); }
  void clear_resume();

  // Consumer thread: moves pending events into `out`; waits up to timeout_ms (-1: forever)
  // for at least one. Returns false once closed and drained.
  bool take(std::vector<Event>& out, int timeout_ms);
  // Either thread: no more events will come; wakes the consumer.
  void close();

  std::uint64_t appended() const;
  std::uint64_t coalesced() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> pending_;
  // path -> seq and kind of the newest pending event for it, for coalescing
  std::unordered_map<std::string, std::pair<std::uint64_t, EventKind>> last_for_path_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t coalesced_ = 0;
  std::uint64_t first_pending_seq_ = 1;
  std::size_t max_pending_;
  bool closed_ = false;
  bool paused_ = false;
  sys::UniqueFd resume_fd_;
};

}  // namespace lookout::core
