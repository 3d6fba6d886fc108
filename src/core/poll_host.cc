// What the polling backend (backend/poll_tracker.h) calls back in the watcher: its model,
// its reporting, and inotify for a subtree that may leave polling once a watch fits; and the
// polling tracker the loop runs when a pass is due (backend/tracker.h).
#include "core/watcher_impl.h"

namespace lookout {

using core::NodeId;

class Watcher::Impl::PollLink final : public backend::PollHost {
 public:
  explicit PollLink(Impl& w) : w_(w) {}
  core::TreeModel& model() override { return w_.model; }
  void report(EventKind kind, NodeId id) override { w_.emit(kind, id); }
  void report_path(EventKind kind, const std::string& path, const std::string& from, bool is_dir,
                   NodeId root) override {
    w_.emit_found(kind, path, from, is_dir, root);
  }
  void root_gone(NodeId root, const char* how) override { w_.root_gone(root, how); }
  void appeared(NodeId dir, const std::string& name) override { w_.appeared(dir, name, true); }
  bool rewatch(NodeId dir) override {
    if (!w_.inotify->live() || w_.opt.backend == BackendChoice::poll) return false;
    if (!w_.inotify->watch_dir(dir, w_.model.path(dir))) return false;
    w_.poller.stop(dir);  // before the catch-up, which lists only what is not polled
    w_.catch_up(dir, true);
    w_.announce(dir, "inotify", "the inotify watch limit allows watching it again");
    return true;
  }
  bool watched(NodeId dir) const override { return w_.inotify->watched(dir); }
  void catch_up(NodeId dir) override { w_.catch_up(dir, true); }
  bool at_mount_boundary(NodeId dir) const override { return w_.at_mount_boundary(dir); }
  void hash(NodeId live_dir, core::TreeModel& fresh, NodeId fresh_dir) override {
    w_.hash_contents(&w_.model, live_dir, fresh, fresh_dir);
  }
  void end_of_pass() override { w_.echo_link_changes(); }
  backend::ExcludedFn exclusion() override { return w_.exclusion(); }
  void warn(const Error& e) override { w_.warn(e); }
  std::int64_t unstat_since_ns() const override { return w_.unstat_since_ns; }
  std::int64_t now_ms() const override { return w_.now_ms(); }
  sys::Fs& fs() override { return *w_.fs; }

 private:
  Impl& w_;
};

// Polling as a tracker: no fd, a pass when one is due.
class Watcher::Impl::PollDuty final : public backend::Tracker {
 public:
  explicit PollDuty(Impl& w) : w_(w) {}
  Result<void> watch(backend::DirId d, const std::string&) override {
    w_.start_polling(d, nullptr);
    return {};
  }
  void unwatch(backend::DirId d) override { w_.poller.stop(d); }
  std::int64_t due_ms() const override { return w_.poller.empty() ? kNever : w_.poller.due_ms(); }
  void run_due() override {
    // A slow consumer: no pass adds to what it has not read (a pass's diff is bounded by
    // the tree, but pass after pass would not be).
    if (w_.log.over_limit()) {
      ++w_.stats.paused;
    } else {
      w_.poll_pass(w_.poller.full_due(w_.now_ms()));
    }
  }

 private:
  Impl& w_;
};

std::unique_ptr<backend::PollHost> Watcher::Impl::make_poll_host() {
  return std::make_unique<PollLink>(*this);
}

std::unique_ptr<backend::Tracker> Watcher::Impl::make_poll_tracker() {
  return std::make_unique<PollDuty>(*this);
}

void Watcher::Impl::poll_pass(bool full) {
  poller.pass(full, *poll_host);
  stats.polls = poller.counters().passes;
  stats.poll_stats = poller.counters().stats;
}

}  // namespace lookout
