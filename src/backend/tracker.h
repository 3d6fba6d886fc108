// Tracker: what the loop needs of one change-finding mechanism (inotify, fanotify, polling),
// so step() and the scanner's hooks drive each without knowing which it is. A tracker is
// passive: the scan calls watch() for each directory it lists, the model unwatch() for each
// node it drops; the loop polls fd() and calls drain() when it is readable, and run_due()
// when due_ms() has come. What records mean for the model is the engine's (the translators).
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lookout/result.h"

namespace lookout::backend {

// The engine's id for a directory (core::NodeId): a tracker keeps its own per-directory
// state (a wd, a handle key, a polled subtree) keyed by it.
using DirId = std::uint32_t;

class Tracker {
 public:
  static constexpr std::int64_t kNever = INT64_MAX;
  virtual ~Tracker() = default;

  // Starts finding changes in `dir` (at `path`), about to be listed: a watch, a mark, or
  // what this tracker decides a mount there needs instead. An error says why it could not.
  virtual Result<void> watch(DirId dir, const std::string& path) = 0;
  // `dir` leaves the model: whatever this tracker keeps for it goes (node ids are reused).
  // Called on every tracker, live or not.
  virtual void unwatch(DirId dir) = 0;

  // The fd that becomes readable (POLLIN) when records are queued; -1: none (polling).
  virtual int fd() const { return -1; }
  // Reads what is queued without blocking, about `max` records at most, and applies it.
  // Returns how many were read; an error ends watching.
  virtual Result<std::size_t> drain(std::size_t) { return std::size_t{0}; }
  // After each step's read (or its absence): `caught_up` when it reached the queue's end.
  virtual void after_read(bool /*caught_up*/) {}
  // The loop stops reading for a while (its consumer is max_pending behind): a tracker that
  // can hold records outside the kernel's queue (inotify's relay) starts to.
  virtual void read_ahead() {}
  // An fd waited on for POLLPRI, -1: none (fanotify: the mount table, having no IN_UNMOUNT),
  // and what to do when it fires.
  virtual int notice_fd() { return -1; }
  virtual void on_notice() {}
  // When the next timed duty is due (monotonic ms; kNever: none), and the duty.
  virtual std::int64_t due_ms() const { return kNever; }
  virtual void run_due() {}
};

}  // namespace lookout::backend
