// InotifyBackend: one inotify instance. Passive: it owns the fd and the watch descriptors'
// kernel side, adds and removes watches, and drains queued events without blocking. The
// watcher's loop decides when to read and what the events mean.
// Not thread-safe: loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/result.h"
#include "sys/inotify_calls.h"
#include "sys/proc_limits.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

struct RawEvent {
  int wd;
  std::uint32_t mask;
  std::uint32_t cookie;
  std::string name;
};

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
  int fd() const { return fd_.get(); }
  // The instance's fd, for a caller that closes it off its thread (sys::close_in_background).
  sys::UniqueFd release_fd() { return std::move(fd_); }
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
};

// A one-line description of the watch limit for error messages ("max_user_watches=8192,
// 8190 in use by uid 0 (most: 8000 by pid 12 watchman); raise it: sysctl ...").
std::string describe_watch_limit(const sys::InotifyLimits& limits);

}  // namespace lookout::backend
