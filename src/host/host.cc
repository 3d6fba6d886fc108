#include "host/host.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sys/proc_limits.h"

namespace lookout::host {

Host::Host(Watcher& watcher, std::vector<int> stop_signals) : watcher_(watcher) {
  sigemptyset(&signals_);
  for (int s : stop_signals) sigaddset(&signals_, s);
  pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  ::signal(SIGPIPE, SIG_IGN);
  // A read lease held for microseconds to ask whether a file has writers (sys/file_writers.h)
  // is broken by a writer opening it then, and the break notice, SIGIO, would end lookout.
  ::signal(SIGIO, SIG_IGN);
  // A watcher lives for months holding a few large tables (the tree model's) that grow by
  // copying. glibc's adaptive thresholds would, after the first large table is freed, put
  // the next ones in a thread's arena, whose top is never handed back (malloc_trim trims
  // only the main arena's top): a table rebuilt smaller left the old one's pages resident.
  // Fixed thresholds keep every block past 128 KiB in its own mapping, returned whole when
  // freed, and its untouched tail never resident.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  signal_fd_ = sys::UniqueFd(::signalfd(-1, &signals_, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_.valid()) setup_errno_ = errno;
  started_fd_ = sys::UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (signal_fd_.valid() && !started_fd_.valid()) setup_errno_ = errno;
}

Host::~Host() {
  stop();
  // A stop signal still pending would strike with its default action once unblocked: it was
  // meant for this host, which is done, so it is taken here.
  signalfd_siginfo info;
  while (signal_fd_.valid() && ::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Result<void> Host::start() {
  if (!signal_fd_.valid() || !started_fd_.valid()) {
    const int err = setup_errno_;
    Error e = error_from_errno(err, signal_fd_.valid() ? "eventfd" : "signalfd", "");
    if (err == EMFILE || err == ENFILE || err == ENOMEM) {
      e.message = std::string(signal_fd_.valid() ? "eventfd" : "signalfd") + ": " + std::strerror(err) +
                  " (" + sys::describe_fd_shortage(err) + ")";
      e.limit = sys::fd_limit_of(err);
    }
    return e;
  }
  loop_ = std::thread([this] {
    Result<void> r = watcher_.start();
    const bool ok = r.has_value();
    {
      std::lock_guard lock(mu_);
      start_result_ = std::move(r);
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(started_fd_.get(), &one, sizeof one);
    if (ok) watcher_.run();
  });
  for (;;) {
    pollfd fds[2] = {{started_fd_.get(), POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) break;
    if (fds[1].revents & POLLIN) {
      // Stop the crawl; start() returns `interrupted` and the loop thread ends.
      signalfd_siginfo info;
      [[maybe_unused]] auto n = ::read(signal_fd_.get(), &info, sizeof info);
      watcher_.request_stop();
    }
  }
  Result<void> result = [&] {
    std::lock_guard lock(mu_);
    return start_result_;
  }();
  if (!result) loop_.join();  // failed or interrupted: the thread has ended
  return result;
}

Host::Wake Host::wait(std::span<const int> fds, int timeout_ms) {
  Wake wake;
  std::vector<pollfd> p;
  p.reserve(fds.size() + 1);
  p.push_back({signal_fd_.get(), POLLIN, 0});
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  int n = ::poll(p.data(), p.size(), timeout_ms);
  if (n <= 0) return wake;
  if (p[0].revents & POLLIN) {
    signalfd_siginfo info;
    if (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      wake.signal = static_cast<int>(info.ssi_signo);
    }
  }
  for (std::size_t i = 1; i < p.size(); ++i) {
    if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) wake.ready.push_back(p[i].fd);
  }
  return wake;
}

void Host::stop() {
  if (!loop_.joinable()) return;
  watcher_.request_stop();
  loop_.join();
}

}  // namespace lookout::host
