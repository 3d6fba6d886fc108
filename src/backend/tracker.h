// Tracker: what the loop needs of one change-finding mechanism (inotify, fanotify, polling),
// so step() waits on and dispatches to each without knowing which it is. A tracker is
// passive: the loop polls its fd and calls drain() when it is readable, and run_due() when
// due_ms() has come. What records mean for the model is the engine's (the translators).
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lookout/result.h"

namespace lookout::backend {

class Tracker {
 public:
  static constexpr std::int64_t kNever = INT64_MAX;
  virtual ~Tracker() = default;

  // The fd that becomes readable (POLLIN) when records are queued; -1: none (polling).
  virtual int fd() const { return -1; }
  // Reads what is queued without blocking, about `max` records at most, and applies it.
  // Returns how many were read; an error ends watching.
  virtual Result<std::size_t> drain(std::size_t) { return std::size_t{0}; }
  // After each step's read (or its absence): `caught_up` when it reached the queue's end.
  virtual void after_read(bool /*caught_up*/) {}
  // An fd waited on for POLLPRI, -1: none (fanotify: the mount table, having no IN_UNMOUNT),
  // and what to do when it fires.
  virtual int notice_fd() { return -1; }
  virtual void on_notice() {}
  // When the next timed duty is due (monotonic ms; kNever: none), and the duty.
  virtual std::int64_t due_ms() const { return kNever; }
  virtual void run_due() {}
};

}  // namespace lookout::backend
