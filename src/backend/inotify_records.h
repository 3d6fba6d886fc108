// The records an inotify read returns, unpacked: shared by the loop's own reads and the
// relay's (inotify_relay.h). No policy: what a record means is the engine's.
#pragma once

#include <sys/inotify.h>

#include <cstddef>
#include <cstdint>
#include <limits.h>
#include <string>
#include <vector>

#include "lookout/result.h"
#include "sys/inotify_calls.h"

namespace lookout::backend {

struct RawEvent {
  int wd;
  std::uint32_t mask;
  std::uint32_t cookie;
  std::string name;
};

// Appends the whole records in buf[0, n) to `out`; returns how many.
std::size_t append_records(const char* buf, std::size_t n, std::vector<RawEvent>& out);

// A read of `n` bytes into a buffer of `size` left room for the largest record: the queue
// held nothing more when it was read, so another read would only say EAGAIN.
inline bool read_emptied_queue(std::size_t n, std::size_t size) {
  return n + sizeof(inotify_event) + NAME_MAX + 1 <= size;
}

struct QueueRead {
  std::size_t records = 0;  // appended to `out`
  bool emptied = false;     // a read found the queue empty (nothing, or room to spare)
};
// Reads the instance `fd` through `calls` into `buf`, appending its records to `out`, until
// a read empties the queue or about max_events are out; with `one_read`, after the first
// read. An error is the read's.
Result<QueueRead> read_queue(sys::InotifyCalls& calls, int fd, std::vector<char>& buf,
                             std::vector<RawEvent>& out, std::size_t max_events, bool one_read);

}  // namespace lookout::backend
