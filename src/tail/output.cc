#include "tail/output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace lookout::tail {

Result<void> Output::flush() {
  std::size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + done, buf_.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking output (inherited O_NONBLOCK): wait for room, as a blocking one would.
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    const int err = n < 0 ? errno : EIO;
    buf_.erase(0, done);
    return Error{ErrorCode::io, err, "",
                 std::string("cannot write the output: ") + std::strerror(err) + (err == EPIPE ? " (the reader closed it)" : "")};
  }
  buf_.clear();
  return {};
}

}  // namespace lookout::tail
