// Output: tail's records on their way to a file descriptor (stdout). Records are appended to
// one buffer and written with blocking write(2) calls, so an output that does not keep up
// stops the reading (backpressure: nothing is read faster than the output takes it). After
// flush() returns ok, every record appended before it is in the kernel's hands (a pipe or a
// file): only then may offsets be committed. Not thread-safe; one per tail.
#pragma once

#include <cstddef>
#include <string>

#include "lookout/result.h"

namespace lookout::tail {

class Output {
 public:
  explicit Output(int fd, std::size_t flush_at = 128 * 1024) : fd_(fd), flush_at_(flush_at) {}
  std::string& buffer() { return buf_; }
  // Writes the buffer when it is past flush_at (call after appending).
  Result<void> maybe_flush() { return buf_.size() >= flush_at_ ? flush() : Result<void>{}; }
  Result<void> flush();
  bool empty() const { return buf_.empty(); }

 private:
  int fd_;
  std::size_t flush_at_;
  std::string buf_;
};

}  // namespace lookout::tail
