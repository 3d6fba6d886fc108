#include "sys/close_in_background.h"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

namespace lookout::sys {

namespace {
// Closes handed over and not yet returned: a caller that counts its free fds (a test filling
// the fd table) must not have one come free under it a few milliseconds later. Never
// destroyed: a detached closer may still finish while the process exits.
struct Pending {
  std::mutex mutex;
  std::condition_variable done;
  int count = 0;
};
Pending& pending() {
  static Pending* p = new Pending;
  return *p;
}

void close_done() {
  Pending& p = pending();
  std::lock_guard lock(p.mutex);
  if (--p.count == 0) p.done.notify_all();
}
}  // namespace

void close_in_background(UniqueFd fd) {
  if (!fd.valid()) return;
  {
    std::lock_guard lock(pending().mutex);
    ++pending().count;
  }
  // The thread starts with every signal blocked: it may run before the front end blocks the
  // signals it takes through a signalfd (SIGUSR1 for `lookout stats`, SIGHUP...), and a
  // process-directed signal delivered to it would take its default action, ending the process.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread([f = std::move(fd)]() mutable {
      f.reset();
      close_done();
    }).detach();
  } catch (const std::system_error&) {
    // No thread to be had (a thread limit): the lambda's capture went with the failed
    // construction and closed the fd here, which only costs the wait.
    close_done();
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void wait_for_background_closes() {
  Pending& p = pending();
  std::unique_lock lock(p.mutex);
  p.done.wait(lock, [&] { return p.count == 0; });
}

}  // namespace lookout::sys
