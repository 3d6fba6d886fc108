// Output: tail's records on their way to a file descriptor (stdout). Records are appended to
// one buffer and written out before anything more is read, so an output that does not keep
// up stops the reading (backpressure: nothing is read faster than the output takes it); a
// pipe is written without blocking, waiting in poll(2), so a stop signal still ends a run
// whose reader stopped reading. After
// flush() returns ok, every record appended before it is in the kernel's hands (a pipe or a
// file): only then may offsets be committed. Not thread-safe; one per tail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lookout/result.h"
#include "sys/unique_fd.h"

namespace lookout::tail {

class Output {
 public:
  explicit Output(int fd, std::size_t flush_at = 128 * 1024);
  std::string& buffer() { return buf_; }
  // Writes the buffer when it is past flush_at (call after appending).
  Result<void> maybe_flush() { return buf_.size() >= flush_at_ ? flush() : Result<void>{}; }
  Result<void> flush();
  bool empty() const { return buf_.empty(); }
  // Stopping: a reader that takes nothing for `grace_ms` is given up on (flush() then fails
  // with ErrorCode::interrupted instead of waiting on). A stop signal seen while waiting for
  // the reader does the same by itself (kStopGraceMs).
  void stop(std::int64_t grace_ms);
  static constexpr std::int64_t kStopGraceMs = 2000;

 private:
  static bool stop_pending();  // SIGTERM, SIGINT or SIGHUP waiting (they are blocked)

  int fd_;
  sys::UniqueFd own_;  // a pipe's non-blocking second open, when it could be made
  bool stopping_ = false;
  std::int64_t stop_deadline_ms_ = 0;
  std::size_t flush_at_;
  std::string buf_;
};

}  // namespace lookout::tail
