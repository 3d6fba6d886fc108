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
// the fd table) must not have one come free under it a few milliseconds later.
std::mutex pending_mutex;
std::condition_variable pending_done;
int pending = 0;

void close_done() {
  std::lock_guard lock(pending_mutex);
  if (--pending == 0) pending_done.notify_all();
}
}  // namespace

void close_in_background(UniqueFd fd) {
  if (!fd.valid()) return;
  {
    std::lock_guard lock(pending_mutex);
    ++pending;
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
  std::unique_lock lock(pending_mutex);
  pending_done.wait(lock, [] { return pending == 0; });
}

}  // namespace lookout::sys
