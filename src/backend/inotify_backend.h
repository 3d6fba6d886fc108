// InotifyBackend: one inotify instance. Passive: it owns the fd and the watch descriptors'
// kernel side, adds and removes watches, and drains queued events without blocking. The
// watcher's loop decides when to read and what the events mean; with start_relay() a
// thread keeps reading while the loop is busy with a burst (inotify_relay.h).
// Not thread-safe: loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/inotify_records.h"
#include "backend/inotify_relay.h"
#include "lookout/result.h"
#include "sys/inotify_calls.h"
#include "sys/proc_limits.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

class InotifyBackend {
 public:
  // Fails with ErrorCode::instance_limit (EMFILE) naming max_user_instances and the fix.
  // Every call goes through `calls`, which must outlive the backend.
  static Result<InotifyBackend> open(sys::InotifyCalls& calls = sys::real_inotify_calls());

  // Adds (or updates) a watch. ENOSPC becomes ErrorCode::watch_limit with a message naming
  // the limit, how many watches this user already holds and the sysctl to raise.
  Result<int> watch(const std::string& path, std::uint32_t mask);
  void unwatch(int wd);
  // The kernel dropped `wd` by itself (IN_IGNORED): only the count changes.
  void forget(int wd) { set_live(wd, false); }
  // What to poll for POLLIN before drain(): the instance, or the relay's while it reads.
  int fd() const { return relay_ ? relay_->poll_fd() : fd_.get(); }
  // The instance's fd, for a caller that closes it off its thread (sys::close_in_background).
  // Ends the relay; what it had read and drain() did not return is lost.
  sys::UniqueFd release_fd() {
    relay_.reset();
    return std::move(fd_);
  }
  // Starts the relay thread (inotify_relay.h); without one (no thread to be had) the loop
  // reads for itself. Only for the kernel's calls: a scripted kernel is single-threaded.
  void start_relay(std::size_t cap_bytes = InotifyRelay::kDefaultCapBytes);
  std::size_t read_ahead_bytes() const { return relay_ ? relay_->buffered_bytes() : 0; }
  // The loop pauses (a slow consumer): the relay reads into its ring meanwhile.
  void read_ahead() {
    if (relay_) relay_->arm();
  }
  // Ends the relay's reading; drain() then returns what it holds and reads on by itself.
  void stop_relay() {
    if (relay_) relay_->stop();
  }
  std::size_t watch_count() const { return watches_; }

  // Reads what is queued now, up to about max_events, appending to `out`.
  // Returns the number of events read (0 when the queue is empty).
  Result<std::size_t> drain(std::vector<RawEvent>& out, std::size_t max_events);

 private:
  InotifyBackend(sys::UniqueFd fd, sys::InotifyCalls& calls)
      : calls_(&calls), fd_(std::move(fd)), buf_(64 * 1024) {}
  // Counted per wd: adding a watch to an inode already watched returns its wd again.
  void set_live(int wd, bool live);
  std::vector<bool> live_;
  sys::InotifyCalls* calls_;
  sys::UniqueFd fd_;
  std::vector<char> buf_;
  std::size_t watches_ = 0;
  // Last: destroyed (its thread joined) before the fd it reads is closed.
  std::unique_ptr<InotifyRelay> relay_;
};

// A one-line description of the watch limit for error messages ("max_user_watches=8192,
// 8190 in use by uid 0 (most: 8000 by pid 12 watchman); raise it: sysctl ...").
std::string describe_watch_limit(const sys::InotifyLimits& limits);

}  // namespace lookout::backend
