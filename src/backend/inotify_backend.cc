#include "backend/inotify_backend.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "sys/close_in_background.h"
#include "sys/inotify_calls.h"
#include "sys/proc_limits.h"

namespace lookout::backend {

std::string describe_watch_limit(const sys::InotifyLimits& limits) {
  auto usage = sys::read_inotify_usage(::getuid());
  std::int64_t total = 0;
  const sys::InotifyUsage* top = nullptr;
  for (const auto& u : usage) {
    total += u.watches;
    if (!top || u.watches > top->watches) top = &u;
  }
  // -1: the knob could not be read (out of fds, no /proc): say so instead of a bogus value.
  std::string s = limits.max_user_watches >= 0
                      ? fmt::format("{}={}, {} in use by uid {}", limits.watches_knob,
                                    limits.max_user_watches, total, ::getuid())
                      : fmt::format("{} reached (its value could not be read), {} in use by uid {}",
                                    limits.watches_knob, total, ::getuid());
  if (top) s += fmt::format(" (most: {} by pid {} {})", top->watches, top->pid, top->comm);
  s += fmt::format("; raise it with: sysctl -w {}={}", limits.watches_knob,
                   std::max<std::int64_t>(524288, limits.max_user_watches * 2));
  return s;
}

Result<InotifyBackend> InotifyBackend::open(sys::InotifyCalls& calls) {
  int fd = calls.open();
  if (fd == -EMFILE) {
    // Instances this process closes on other threads (sys::close_in_background) keep their
    // fds through a grace period: at the fd limit, those come back before the limit is blamed.
    sys::wait_for_background_closes();
    fd = calls.open();
  }
  if (fd < 0) {
    int err = -fd;
    Error e = error_from_errno(err, "inotify_init1", "");
    if (err == EMFILE && sys::fd_table_full()) {
      // EMFILE means either this process's fd table or the user's inotify instances; with
      // no fd left, reading the instance limit would fail too and print -1.
      e.message = "inotify_init1: Too many open files (" + sys::describe_fd_shortage(err) + ")";
      e.limit = sys::fd_limit_of(err);
    } else if (err == EMFILE) {
      auto limits = sys::read_inotify_limits();
      e.code = ErrorCode::instance_limit;
      e.limit = limits.max_user_instances;
      if (limits.max_user_instances >= 0) {
        e.message = fmt::format(
            "inotify_init1: Too many open files (max_user_instances={} reached for uid {}; raise "
            "it with: sysctl -w fs.inotify.max_user_instances={})",
            limits.max_user_instances, ::getuid(), std::max<std::int64_t>(512, limits.max_user_instances * 2));
      } else {
        e.message = fmt::format(
            "inotify_init1: Too many open files (fs.inotify.max_user_instances reached for uid "
            "{}; raise it with: sysctl -w fs.inotify.max_user_instances=512)",
            ::getuid());
      }
    }
    return e;
  }
  return InotifyBackend(sys::UniqueFd(fd), calls);
}

Result<int> InotifyBackend::watch(const std::string& path, std::uint32_t mask) {
  int wd = calls_->add(fd_.get(), path.c_str(), mask);
  if (wd < 0) {
    int err = -wd;
    if (err == ENOSPC) {
      const auto limits = sys::read_inotify_limits();
      Error e;
      e.code = ErrorCode::watch_limit;
      e.sys_errno = err;
      e.path = path;
      e.limit = limits.max_user_watches;
      e.message = fmt::format("inotify_add_watch {}: No space left on device ({})", path,
                              describe_watch_limit(limits));
      return e;
    }
    return error_from_errno(err, "inotify_add_watch", path,
                            err == EACCES         ? "no read permission; not watched"
                            : err == ENAMETOOLONG ? "longer than PATH_MAX (4096 bytes): nothing "
                                                    "below it is watched; watch a directory "
                                                    "further down as a root of its own"
                                                  : "");
  }
  set_live(wd, true);
  return wd;
}

void InotifyBackend::unwatch(int wd) {
  calls_->remove(fd_.get(), wd);
  set_live(wd, false);
}

void InotifyBackend::set_live(int wd, bool live) {
  if (wd < 0) return;
  auto i = static_cast<std::size_t>(wd);
  if (i >= live_.size()) {
    if (!live) return;
    live_.resize(i + 1024, false);
  }
  if (live_[i] == live) return;
  live_[i] = live;
  if (live) {
    ++watches_;
  } else {
    --watches_;
  }
}

std::size_t append_records(const char* buf, std::size_t n, std::vector<RawEvent>& out) {
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < n;) {
    auto* ev = reinterpret_cast<const inotify_event*>(buf + pos);
    pos += sizeof(inotify_event) + ev->len;
    RawEvent r{ev->wd, ev->mask, ev->cookie, {}};
    if (ev->len > 0) r.name.assign(ev->name, ::strnlen(ev->name, ev->len));
    out.push_back(std::move(r));
    ++count;
  }
  return count;
}

void InotifyBackend::start_relay(std::size_t cap_bytes) {
  if (relay_) return;
  // The instance's queue holds max_queued_events records (the value when it was made, a
  // moment ago): the relay lets records gather for at most a sixteenth of what the fastest
  // burst (~300 records/ms on tmpfs) takes to fill it.
  const std::int64_t queue = sys::read_int_file("/proc/sys/fs/inotify/max_queued_events").value_or(16384);
  const int gather_us = static_cast<int>(std::clamp<std::int64_t>(queue / 16, 100, 1000));
  relay_ = InotifyRelay::start(fd_.get(), *calls_, cap_bytes, gather_us);
}

Result<QueueRead> read_queue(sys::InotifyCalls& calls, int fd, std::vector<char>& buf,
                             std::vector<RawEvent>& out, std::size_t max_events, bool one_read) {
  QueueRead r;
  while (r.records < max_events) {
    long n = calls.read(fd, buf.data(), buf.size());
    if (n < 0) return error_from_errno(static_cast<int>(-n), "read inotify", "");
    if (n > 0) r.records += append_records(buf.data(), static_cast<std::size_t>(n), out);
    // Room to spare ends it: a second read would only say EAGAIN (one syscall per change
    // saved; poll wakes for more).
    if (n == 0 || read_emptied_queue(static_cast<std::size_t>(n), buf.size())) {
      r.emptied = true;
      break;
    }
    if (one_read) break;
  }
  return r;
}

Result<std::size_t> InotifyBackend::drain(std::vector<RawEvent>& out, std::size_t max_events) {
  if (relay_) return relay_->drain(out, max_events, buf_);
  auto r = read_queue(*calls_, fd_.get(), buf_, out, max_events, false);
  if (!r) return r.error();
  return r->records;
}

}  // namespace lookout::backend
