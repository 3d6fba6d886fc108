// EventWriter: writes formatted records to a file descriptor, one write per batch, so no
// event waits in a stdio buffer when the output is a pipe. EPIPE ends output quietly.
// Not thread-safe; owned by the consumer thread.
#pragma once

#include <string>

#include "lookout/result.h"

namespace lookout::sink {

class EventWriter {
 public:
  explicit EventWriter(int fd) : fd_(fd) {}
  // Writes all of `buf` and clears it. Fails on EPIPE (reader gone) or a full disk, with
  // a message naming `name` (the output's path or "standard output").
  Result<void> flush(std::string& buf, const std::string& name);

 private:
  int fd_;
};

}  // namespace lookout::sink
