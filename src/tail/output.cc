#include "tail/output.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

namespace lookout::tail {

Output::Output(int fd, std::size_t flush_at) : fd_(fd), flush_at_(flush_at) {
  // A pipe is written through a second, non-blocking open of it (its own file description:
  // the O_NONBLOCK flag is not imposed on whoever else shares the pipe), so that a reader
  // that stops reading cannot hold lookout in write(2) past a stop signal.
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    int nb = ::open(self.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (nb >= 0) own_.reset(nb);
  }
}

namespace {
std::int64_t monotonic_ms() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

void Output::stop(std::int64_t grace_ms) {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ms_ = monotonic_ms() + grace_ms;
}

bool Output::stop_pending() {
  sigset_t pending;
  if (::sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1 ||
         sigismember(&pending, SIGHUP) == 1;
}

Result<void> Output::flush() {
  const int fd = own_.valid() ? own_.get() : fd_;
  std::size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::write(fd, buf_.data() + done, buf_.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The reader is behind: wait for room (backpressure), looking for a stop signal
      // (blocked for the process and read by the host's signalfd; here it is only pending).
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 250) == 0 && !stopping_ && stop_pending()) stop(kStopGraceMs);
      if (stopping_ && monotonic_ms() >= stop_deadline_ms_) {
        buf_.erase(0, done);
        return Error{ErrorCode::interrupted, EINTR, "",
                     "stopped while the output was not being read; " + std::to_string(buf_.size()) +
                         " bytes were not written (their lines come again at the next start)"};
      }
      continue;
    }
    const int err = n < 0 ? errno : EIO;
    buf_.erase(0, done);
    return Error{ErrorCode::io, err, "",
                 std::string("cannot write the output: ") + std::strerror(err) +
                     (err == EPIPE ? " (the reader closed it)" : "")};
  }
  buf_.clear();
  return {};
}

}  // namespace lookout::tail
