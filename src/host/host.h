// Host: the plumbing every front end needs around a Watcher. The watcher's loop runs on its
// own thread (start() there too, so a signal can interrupt a long crawl); the front end's
// thread waits in one poll(2) on the stop signals (a signalfd), the subscriptions it reads
// and any fds of its own (child pidfds, sockets, timerfds). No thread is woken by sending
// the process a signal: stopping is request_stop() on the watcher's own eventfd, so a front
// end that supervises children keeps signals for them.
// Construct on the main thread before any other thread exists: it blocks the stop signals
// for the process (every thread made later inherits the mask) and reads them from a signalfd.
// Not thread-safe: one front-end thread uses it.
#pragma once

#include <csignal>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "lookout/result.h"
#include "lookout/watcher.h"
#include "sys/unique_fd.h"

namespace lookout::host {

class Host {
 public:
  // Blocks `stop_signals` and opens a signalfd for them. SIGPIPE is ignored (a closed
  // output is an error the writer reports, not a silent death), and SIGIO (sys/file_writers.h).
  explicit Host(Watcher& watcher, std::vector<int> stop_signals = {SIGINT, SIGTERM, SIGHUP});
  ~Host();  // stops the loop and joins its thread; restores the signal mask
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Starts the watcher on the loop thread and waits until its watches are live, it failed,
  // or a stop signal came (then an Error with code interrupted). On success the loop runs.
  Result<void> start();

  struct Wake {
    int signal = 0;               // the stop signal that came, 0 if none
    std::vector<int> ready;       // which of the fds given are readable (or hung up)
  };
  // Waits up to timeout_ms (-1: forever) for a stop signal or one of `fds` to be readable.
  Wake wait(std::span<const int> fds, int timeout_ms);

  // Asks the loop to stop and waits for it; the watcher then saves its state and closes
  // the log, so what the subscriptions hold can be drained. Idempotent.
  void stop();
  bool stopped() const { return !loop_.joinable(); }

 private:
  Watcher& watcher_;
  sigset_t signals_;
  sigset_t old_mask_;
  sys::UniqueFd signal_fd_;
  sys::UniqueFd started_fd_;
  int setup_errno_ = 0;       // why signal_fd_ or started_fd_ could not be made  // eventfd: the loop thread's start() returned
  std::mutex mu_;
  Result<void> start_result_;  // guarded by mu_: written by the loop thread
  std::thread loop_;
};

}  // namespace lookout::host
