// The inotify and fanotify trackers: each reads its backend's queue and hands the records
// to its translator (inotify_translator.cc, fanotify_translator.cc). See backend/tracker.h.
#include "core/watcher_impl.h"

namespace lookout {

class Watcher::Impl::InotifyLink final : public backend::Tracker {
 public:
  explicit InotifyLink(Impl& w) : w_(w) {}
  Result<void> watch(backend::DirId d, const std::string& path) override {
    if (w_.opt.backend == BackendChoice::auto_select && w_.at_mount_boundary(d)) {
      // inotify sees nothing of changes made on a server or behind a FUSE daemon: poll there.
      if (auto why = w_.polling_reason(path)) {
        w_.start_polling(d, nullptr);
        w_.announce(d, "poll", why->why, why->cause);
        return {};
      }
    }
    return w_.watch_dir(d, path);
  }
  void unwatch(backend::DirId id) override {
    int wd = w_.watches.wd_of(id);
    if (wd < 0) return;
    w_.watches.drop_node(id);
    // Its wd may still be owed to a directory listed ahead of its events (see watch_dir).
    if (w_.inotify && !w_.pass_wd_to_heir(wd, id)) {
      w_.inotify->unwatch(wd);
      w_.watches.drop_wd(wd);
    }
  }
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
  Result<void> watch(backend::DirId d, const std::string& path) override {
    // One mark covers the filesystem; only a mount boundary needs a decision (usually
    // taken already from the mount table, before ready: see mark_submounts). A directory
    // known only from a record (its stat failed: it had moved on) has no device yet: it
    // is no mount point.
    const core::Node& n = w_.model.node(d);
    if (w_.model.stat_known(d) && !w_.model.is_root(d) && w_.at_mount_boundary(d)) {
      w_.fan_mount_points.insert(d);
      if (!w_.fan->marked(n.st.dev)) w_.enter_submount(d, path);
    }
    return {};
  }
  void unwatch(backend::DirId id) override {
    w_.fan_mount_points.erase(id);
    w_.fan_in_step.erase(id);
    if (!w_.fan_virtual.empty() && w_.model.node(id).is_dir()) {
      for (auto it = w_.fan_virtual.begin(); it != w_.fan_virtual.end();) {
        it = it->first.dir == id || it->second.name.dir == id ? w_.fan_virtual.erase(it) : std::next(it);
      }
    }
    w_.fan_forget(id);
  }
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
    if (!w_.mountinfo_fd) {
      int fd = w_.fs->open_mount_notice();
      if (fd < 0) return -1;
      w_.mountinfo_fd.emplace(*w_.fs, fd);
      w_.check_mount_points();  // arms the notification
    }
    return w_.mountinfo_fd->get();
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
