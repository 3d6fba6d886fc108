// The inotify and fanotify trackers: each reads its backend's queue and hands the records
// to its translator (inotify_translator.cc, fanotify_translator.cc). See backend/tracker.h.
#include <fcntl.h>

#include "core/watcher_impl.h"

namespace lookout {

class Watcher::Impl::InotifyLink final : public backend::Tracker {
 public:
  explicit InotifyLink(Impl& w) : w_(w) {}
  int fd() const override { return w_.inotify->fd(); }
  Result<std::size_t> drain(std::size_t max) override {
    w_.raw.clear();
    auto got = w_.inotify->drain(w_.raw, max);
    if (got) w_.handle(w_.raw);
    return got;
  }

 private:
  Impl& w_;
};

class Watcher::Impl::FanotifyLink final : public backend::Tracker {
 public:
  explicit FanotifyLink(Impl& w) : w_(w) {}
  int fd() const override { return w_.fan->fd(); }
  Result<std::size_t> drain(std::size_t max) override {
    w_.fan_raw.clear();
    auto got = w_.fan->drain(w_.fan_raw, max);
    if (got) w_.handle_fan(w_.fan_raw);
    return got;
  }
  void after_read(bool caught_up) override {
    // The crawl finished before this read, and the read found the queue's end with no
    // overflow: every record of the crawl's time was handled, nothing is left to settle.
    if (w_.crawl || w_.rescan_pending || !caught_up) return;
    w_.crawl_suspects.clear();
    w_.crawl_tail = false;
    w_.fan_in_step.clear();
    w_.fan_told.clear();
  }
  int notice_fd() override {
    if (!w_.mountinfo_fd.valid()) {
      w_.mountinfo_fd = sys::UniqueFd(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
      if (w_.mountinfo_fd.valid()) w_.check_mount_points();  // arms the notification
    }
    return w_.mountinfo_fd.get();
  }
  void on_notice() override { w_.check_mount_points(); }

 private:
  Impl& w_;
};

std::unique_ptr<backend::Tracker> Watcher::Impl::make_inotify_link() {
  return std::make_unique<InotifyLink>(*this);
}

std::unique_ptr<backend::Tracker> Watcher::Impl::make_fanotify_link() {
  return std::make_unique<FanotifyLink>(*this);
}

}  // namespace lookout
