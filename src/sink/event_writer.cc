#include "sink/event_writer.h"

#include <unistd.h>

#include <cerrno>

namespace lookout::sink {

Result<void> EventWriter::flush(std::string& buf, const std::string& name) {
  std::size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      buf.clear();
      return error_from_errno(err, "cannot write events to", name,
                              err == ENOSPC ? "the disk is full; free space or write elsewhere with -o" : "");
    }
    off += static_cast<std::size_t>(n);
  }
  buf.clear();
  return {};
}

}  // namespace lookout::sink
