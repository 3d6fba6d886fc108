// What the loop does for its subscriptions beyond appending events: it snapshots the tree
// model for a reader cut off for lagging, hands that reader the differences once it has
// caught up, and lists the tree for a reader that asked for the entries already there.
// All of it runs between steps, when the model matches every event appended so far, so what
// a reader is handed fits exactly between what it took before and what it reads after.
#include <fcntl.h>

#include "core/tree_diff.h"
#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {};
  return slash == 0 ? "/" : path.substr(0, slash);
}

// `id`: the entry in `m` whose identity the event carries when its stat is known; kNoNode: none.
Event make_event(EventKind kind, std::string path, bool is_dir, const core::TreeModel& m,
                 NodeId id) {
  Event e;
  e.kind = kind;
  e.path = std::move(path);
  e.is_dir = is_dir;
  if (id != kNoNode && m.stat_known(id)) {
    const sys::FileStat st = m.stat(id);
    e.stat = EntryStat{st.dev, st.ino, st.size, st.mtime_ns};
  }
  return e;
}

}  // namespace

void Watcher::Impl::serve_readers() {
  for (auto& r : log.take_cut_readers()) {
    // The model now is what the reader's stream reaches at its cut: the base of its diff.
    auto snap = std::make_unique<core::TreeModel>(model);
    snap->set_remove_hook({});  // the copy owns no watches
    reader_snapshots[r] = std::move(snap);
  }
  // Snapshots of readers that went away (their Subscription was destroyed while cut off).
  for (auto it = reader_snapshots.begin(); it != reader_snapshots.end();) {
    it = it->first.use_count() == 1 ? reader_snapshots.erase(it) : std::next(it);
  }
  if (!service_due) return;
  service_due = false;
  for (auto& r : log.requests()) {
    auto snap = reader_snapshots.find(r);
    if (snap != reader_snapshots.end()) {
      hand_off(*r, *snap->second);
      reader_snapshots.erase(snap);
    } else if (started && !crawl) {
      list_existing(*r);
    } else {
      service_due = true;  // the tree is still being listed: once it is whole
    }
  }
}

void Watcher::Impl::list_existing(core::Reader& r) {
  std::vector<Event> out;
  std::vector<NodeId> stack;
  for (NodeId root : model.children(core::kTopNode)) {
    model.for_each_child(root, [&](NodeId c) { stack.push_back(c); });
    while (!stack.empty()) {
      NodeId id = stack.back();
      stack.pop_back();
      const core::Node& n = model.node(id);
      std::string path = model.path(id);
      if (!model.stat_known(id)) {
        // Files listed at start were not stat'ed (readiness needs only directories); a
        // consumer of existing entries needs their identity, as it would stat them itself.
        sys::FileStat st;
        if (fs->stat_at(AT_FDCWD, path.c_str(), st) == 0) {
          model.set_stat(id, st);
        }
      }
      out.push_back(make_event(EventKind::exists, std::move(path), n.is_dir(), model, id));
      if (n.is_dir()) model.for_each_child(id, [&](NodeId c) { stack.push_back(c); });
    }
  }
  log.deliver(r, std::move(out));
}

void Watcher::Impl::hand_off(core::Reader& r, core::TreeModel& snap) {
  core::Missed missed = log.missed(r);
  std::vector<Event> out;
  if (!missed.any) {
    log.deliver(r, std::move(out));
    return;
  }
  // The deepest directory that holds everything missed and is a directory in both models;
  // failing that (a root gone, or changes in several roots), every root.
  std::vector<std::pair<NodeId, NodeId>> pairs;  // (snapshot dir, live dir)
  for (std::string p = missed.under; !p.empty(); p = p == "/" ? std::string() : parent_of(p)) {
    NodeId s = snap.find_path(p), l = model.find_path(p);
    if (s != kNoNode && l != kNoNode && snap.node(s).is_dir() && model.node(l).is_dir()) {
      pairs.emplace_back(s, l);
      break;
    }
    if (l != kNoNode && model.is_root(l)) break;
  }
  if (pairs.empty()) {
    for (NodeId l : model.children(core::kTopNode)) {
      NodeId s = snap.find(core::kTopNode, model.name(l));
      if (s != kNoNode) pairs.emplace_back(s, l);
    }
  }
  for (auto [s, l] : pairs) {
    Event rescan = make_event(EventKind::rescan, model.path(l), true, model, kNoNode);
    rescan.reason = "lagged";
    out.push_back(std::move(rescan));
    core::DiffSink sink;
    sink.event = [&](EventKind k, const std::string& path, const std::string& from, bool is_dir) {
      NodeId id = k == EventKind::remove ? kNoNode : model.find_path(path);
      Event e = make_event(k, path, is_dir, model, id);
      if (k == EventKind::rename) e.from = from;
      out.push_back(std::move(e));
    };
    core::reconcile(snap, s, model, l, sink);
    // In-place changes leave no trace in the models the diff could see reliably (a write
    // that kept size and mtime, an attrib, a close): they are replayed from what was noted.
    if (missed.all_changed) {
      for (NodeId id : model.subtree_post_order(l)) {
        if (!model.node(id).is_dir()) out.push_back(make_event(EventKind::modify, model.path(id), false, model, id));
      }
    }
  }
  for (const auto& [path, kinds] : missed.changes) {
    NodeId id = model.find_path(path);
    if (id == kNoNode) continue;  // gone since: the diff said so
    for (EventKind k : {EventKind::modify, EventKind::attrib, EventKind::close_write, EventKind::open,
                        EventKind::access, EventKind::close_nowrite}) {
      if (kinds & event_bit(k)) out.push_back(make_event(k, path, model.node(id).is_dir(), model, id));
    }
  }
  log.deliver(r, std::move(out));
}

std::unique_ptr<Subscription> Watcher::subscribe(const SubscribeOptions& options) {
  auto reader = impl_->log.add_reader(options, /*hold_loop=*/false);
  return std::make_unique<Subscription>(impl_->shared_log, std::move(reader));
}

Subscription::Subscription(std::shared_ptr<core::EventLog> log, std::shared_ptr<core::Reader> reader)
    : log_(std::move(log)), reader_(std::move(reader)) {}

Subscription::~Subscription() { log_->remove_reader(*reader_); }

int Subscription::fd() const { return reader_->ready_fd.get(); }

bool Subscription::try_take(std::vector<Event>& out, std::size_t max_events) {
  return log_->try_take(*reader_, out, max_events);
}

bool Subscription::take(std::vector<Event>& out, int timeout_ms) {
  return log_->take(*reader_, out, timeout_ms);
}

void Subscription::set_inline_taker(std::function<bool()> taker) {
  log_->set_inline_taker(*reader_, std::move(taker));
}

SubscriptionStats Subscription::stats() const { return log_->stats(*reader_); }
std::uint64_t Subscription::taken_through() const { return log_->taken_through(*reader_); }

}  // namespace lookout
