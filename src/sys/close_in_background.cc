#include "sys/close_in_background.h"

#include <pthread.h>
#include <signal.h>

#include <system_error>
#include <thread>

namespace lookout::sys {

void close_in_background(UniqueFd fd) {
  if (!fd.valid()) return;
  // The thread starts with every signal blocked: it may run before the front end blocks the
  // signals it takes through a signalfd (SIGUSR1 for `lookout stats`, SIGHUP...), and a
  // process-directed signal delivered to it would take its default action, ending the process.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    std::thread([f = std::move(fd)]() mutable { f.reset(); }).detach();
  } catch (const std::system_error&) {
    // No thread to be had (a thread limit): the lambda's capture went with the failed
    // construction and closed the fd here, which only costs the wait.
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace lookout::sys
