// What each inotify event means for the tree model, and which Events it yields; the inotify
// tracker's watches (see inotify_translator.h). Kernel events are hints: every handler is
// idempotent against the model, so an event that a catch-up scan or a rescan already
// accounted for changes nothing and reports nothing.
#include "core/inotify_translator.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>

#include <string_view>

#include "sys/close_in_background.h"

namespace lookout::core {

namespace {
std::uint32_t mask_for(EventMask events) {
  std::uint32_t m = 0;
  if (events & event_bit(EventKind::modify)) m |= IN_MODIFY;
  if (events & event_bit(EventKind::close_write)) m |= IN_CLOSE_WRITE;
  if (events & event_bit(EventKind::attrib)) m |= IN_ATTRIB;
  if (events & event_bit(EventKind::open)) m |= IN_OPEN;
  if (events & event_bit(EventKind::access)) m |= IN_ACCESS;
  if (events & event_bit(EventKind::close_nowrite)) m |= IN_CLOSE_NOWRITE;
  return m;
}
}  // namespace

InotifyTranslator::InotifyTranslator(EngineServices& engine, TreeModel& model,
                                     const WatchOptions& opt, sys::Fs& fs,
                                     sys::InotifyCalls& calls, sys::Waiter& waiter)
    : engine_(engine), model_(model), opt_(opt), fs_(fs), calls_(calls), waiter_(waiter) {
  // Structure events are always needed to keep the model true, whatever is reported.
  // IN_EXCL_UNLINK: no events for names already unlinked
  // (docs/kernel-facts.md#deleted-open-file-events); IN_ONLYDIR: never turn a directory watch into
  // a file watch through a race.
  dir_mask_ = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |
              IN_MOVE_SELF | IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW | mask_for(opt_.events);
  file_mask_ = IN_DELETE_SELF | IN_MOVE_SELF | mask_for(opt_.events);
}

Result<void> InotifyTranslator::open() {
  auto backend = backend::InotifyBackend::open(calls_);
  if (!backend) return backend.error();
  backend_.emplace(std::move(*backend));
  // The relay's thread reads through the same calls: only the kernel's are thread-safe (a
  // scripted kernel replays one sequence on the loop thread).
  if (opt_.inotify_read_ahead_bytes > 0 && &calls_ == &sys::real_inotify_calls()) {
    backend_->start_relay(opt_.inotify_read_ahead_bytes);
  }
  return {};
}

void InotifyTranslator::drain_all() {
  if (backend_) backend_->stop_relay();  // its chunks first, then the queue's rest
  keep_unpaired_ = true;
  [[maybe_unused]] auto got = drain(SIZE_MAX);  // a read error: what was read is applied
  finish_pending_move();
  keep_unpaired_ = false;
}

void InotifyTranslator::close() {
  // Its close waits out a grace period (the switch to fanotify, before ready): not here.
  if (backend_) sys::close_in_background(backend_->release_fd());
  backend_.reset();
  watches_.clear();  // every node's wd went with the instance
  wd_heirs_.clear();
}

Result<void> InotifyTranslator::watch(backend::DirId d, const std::string& path) {
  // inotify sees nothing of changes made on a server or behind a FUSE daemon: poll there.
  if (opt_.backend == BackendChoice::auto_select && engine_.at_mount_boundary(d) &&
      engine_.polling_instead(d, path)) {
    return {};
  }
  return watch_dir(d, path);
}

void InotifyTranslator::unwatch(backend::DirId id) {
  self_reported_.erase(id);
  int wd = watches_.wd_of(id);
  if (wd < 0) return;
  watches_.drop_node(id);
  // Its wd may still be owed to a directory listed ahead of its events (see watch_dir).
  if (backend_ && !pass_wd_to_heir(wd, id)) {
    backend_->unwatch(wd);
    watches_.drop_wd(wd);
  }
}

Result<std::size_t> InotifyTranslator::drain(std::size_t max) {
  raw_.clear();
  auto got = backend_->drain(raw_, max);
  if (got) handle(raw_);
  return got;
}

bool InotifyTranslator::owns_delete_self(NodeId id) {
  if (self_reported_.count(id)) return true;  // came before the parent's DELETE: said then
  if (!backend_ || !watches_.watched(id)) return false;
  if (opt_.events & event_bit(EventKind::delete_self)) {
    gone_self_[watches_.wd_of(id)] = GoneSelf{model_.path(id), model_.root_of(id)};
  }
  return true;
}

NodeId InotifyTranslator::node_for_wd(int wd) const {
  NodeId id = watches_.node_of(wd);
  return model_.valid(id) ? id : kNoNode;
}

Result<void> InotifyTranslator::watch_dir(NodeId dir, const std::string& path) {
  bool root = model_.is_root(dir);
  // Roots may be symlinks the user named on purpose (a ConfigMap's ..data): follow those.
  std::uint32_t mask = model_.node(dir).is_dir() ? dir_mask_ : file_mask_;
  if (root && opt_.follow_root_symlinks) mask &= ~static_cast<std::uint32_t>(IN_DONT_FOLLOW);
  if (root && !opt_.follow_root_symlinks) mask |= IN_DONT_FOLLOW;
  auto wd = backend_->watch(path, mask);
  if (!wd) return wd.error();
  int w = *wd;
  NodeId prev = watches_.node_of(w);
  if (prev != kNoNode && prev != dir && model_.valid(prev) && watches_.wd_of(prev) == w) {
    // Watches are per inode, so the kernel handed back a wd the model holds for another
    // path. If that path still leads to this directory it is a bind mount: the first path
    // keeps the wd. Otherwise this listing ran ahead of the events: the directory has moved
    // here and the events saying so are still queued. Those events, and all queued before
    // them for this wd, happened where the other node is, so the wd stays with it; this
    // node inherits it when that one is moved onto it or removed (pass_wd_to_heir).
    sys::FileStat st;
    std::string prev_path = model_.path(prev);
    if (fs_.stat_at(AT_FDCWD, prev_path.c_str(), st) != 0 || st.ino != model_.stat(dir).ino ||
        st.dev != model_.stat(dir).dev) {
      wd_heirs_[w] = WdHeir{dir, model_.stat(dir).ino};
    }
    return {};
  }
  watches_.bind(dir, w);
  return {};
}

bool InotifyTranslator::pass_wd_to_heir(int wd, NodeId from) {
  auto it = wd_heirs_.find(wd);
  if (it == wd_heirs_.end()) return false;
  WdHeir heir = it->second;
  wd_heirs_.erase(it);
  // Node ids are reused: the heir must still be that directory, and still without a watch.
  if (heir.node == from || !model_.valid(heir.node)) return false;
  const Node& n = model_.node(heir.node);
  if (!n.is_dir() || model_.stat(heir.node).ino != heir.ino || watches_.watched(heir.node)) return false;
  watches_.bind(heir.node, wd);
  return true;
}

void InotifyTranslator::moved(NodeId from_dir, const std::string& from_name, NodeId to_dir,
                              const std::string& to_name, bool is_dir_hint) {
  NodeId id = model_.find(from_dir, from_name);
  if (id == kNoNode) {
    engine_.appeared(to_dir, to_name, is_dir_hint, "moved_in");  // source excluded or unknown
    return;
  }
  std::string to_path = model_.child_path(to_dir, to_name);
  if (engine_.excluded(to_path)) {
    engine_.vanished(from_dir, from_name, "moved_out");
    return;
  }
  std::string from = model_.path(id);
  const sys::FileStat before = model_.stat(id);
  const bool had_stat = model_.stat_known(id);
  // A directory's node is its stat, its listing and its watch, all taken when its CREATE
  // (or a listing) was handled: from whatever held the name by then. Made, renamed away and
  // made again before that CREATE was read, the name held the second directory, and this
  // record is of the first, which the model never saw.
  const Arrival arrival = arrival_of(id, from, to_dir, to_path);
  if (arrival == Arrival::never_left) {
    // The node stays with its directory (its watch reports from there); what moved
    // arrives, with what it holds.
    engine_.appeared(to_dir, to_name, is_dir_hint, "moved_in");
    return;
  }
  if (!model_.move(id, to_dir, to_name)) {
    // Only a model gone stale (events lost in an overflow) asks to move a directory into
    // itself: let the rescan settle it instead of guessing.
    engine_.schedule_rescan("inconsistent");
    return;
  }
  // touch a, mv a b, touch a, all before the first CREATE was read: that CREATE's stat was
  // the second a's. The rename is of the first, whose identity is at b.
  // The rename carries the stamps the file has now, not stale ones; but not another
  // object's, which a stale path would give a directory (restat keeps a file's own).
  const bool restatted = arrival != Arrival::stale_path && engine_.restat(id);
  sys::FileStat moved_stat;
  const bool stat_was_successors =
      !restatted && had_stat && stat_was_of_successor(id, from, to_path, moved_stat);
  if (stat_was_successors) model_.set_stat(id, moved_stat);
  engine_.emit(EventKind::rename, id, from);
  if (engine_.watched_self(id)) {
    engine_.emit(EventKind::move_self, id);  // after the pair, at the new path
  }
  if (arrival == Arrival::replaced) {
    // Its listing and its watch are of a directory that is not at the destination (the
    // record was of one the model never saw, or the name has changed hands since): what
    // is there now replaces it, listed and watched, as recheck_replaced() does. Where the
    // node's own directory is now, later records (or a listing) say.
    engine_.vanished(to_dir, to_name);
    engine_.appeared(to_dir, to_name, is_dir_hint, "moved_in");
    return;
  }
  // A write nobody reported shows now; not for a file whose stamps were another's (it was
  // made after the watch: its writes have records of their own).
  if (!stat_was_successors) engine_.check_arrived(id, before, had_stat);
  // A directory renamed before its catch-up scan could open it (the scan met ENOENT) has no
  // watch yet: watch and list it at its new place now.
  const Node& n = model_.node(id);
  if (n.is_dir() && !watches_.watched(id) && opt_.recursive && !engine_.under_polled(id)) {
    engine_.catch_up(id, true);
  }
  // So do directories inside it that met ENOENT because of this very rename: now, in event
  // order, not after the batch, or what they hold would be reported after later events.
  if (n.is_dir() && engine_.any_blind()) engine_.retry_blind(id);
}

void InotifyTranslator::finish_pending_move() {
  if (!pending_move_) return;
  PendingMove pm = std::move(*pending_move_);
  pending_move_.reset();
  if (!model_.valid(pm.dir)) return;
  // A directory made, moved out and made again before its CREATE was read: the model's node
  // is the second one (its CREATE found it), still there; the first left unseen.
  const NodeId id = model_.find(pm.dir, pm.name);
  if (id != kNoNode && still_at_its_path(id, model_.path(id))) return;
  // The hand-over's last records: the destination may be a directory of the tree not
  // watched yet (the crawl had not reached it), and the mark has the whole rename. Reported
  // as moved out here and as made and renamed by the mark's records, it was told twice.
  // Only while the name is free: a node left at a name that holds another object now would
  // be keyed by the mark as that object (FanotifyTranslator::key_existing goes by path).
  if (keep_unpaired_) {
    sys::FileStat now;
    if (id != kNoNode && engine_.stat_child(pm.dir, pm.name, now) == ENOENT) {
      const sys::FileStat st = model_.stat(id);
      unpaired_.push_back(UnpairedMove{pm.dir, pm.name, id, st.dev, st.ino});
      return;
    }
  }
  // Moved out of every watched tree: its watches would keep reporting from outside under
  // stale paths (docs/kernel-facts.md#moved-out-watches-keep-reporting), so they go with the
  // subtree.
  engine_.vanished(pm.dir, pm.name, "moved_out");
}

bool InotifyTranslator::still_at_its_path(NodeId id, const std::string& path) {
  // Only a directory's node carries a listing and a watch; only a known stat says which.
  if (!opt_.recursive || !model_.node(id).is_dir() || !model_.stat_known(id)) return false;
  const sys::FileStat had = model_.stat(id);
  sys::FileStat st;
  return fs_.stat_at(AT_FDCWD, path.c_str(), st) == 0 && st.ino == had.ino && st.dev == had.dev &&
         st.type == had.type;
}

bool InotifyTranslator::stat_was_of_successor(NodeId id, const std::string& from_path,
                                              const std::string& to_path, sys::FileStat& at_destination) {
  if (model_.node(id).is_dir() || !model_.stat_known(id)) return false;
  const sys::FileStat had = model_.stat(id);
  sys::FileStat at_source;
  // The destination holding another object than the model's is usual (renamed over since,
  // that record still queued): only with the model's own object back at the source was the
  // stat the successor's. (Moved there and back with the destination made again: this
  // takes the new file's stat for the first rename, and the rename back corrects it.)
  return fs_.stat_at(AT_FDCWD, to_path.c_str(), at_destination) == 0 && at_destination.type == had.type &&
         (at_destination.ino != had.ino || at_destination.dev != had.dev) &&
         fs_.stat_at(AT_FDCWD, from_path.c_str(), at_source) == 0 && at_source.ino == had.ino &&
         at_source.dev == had.dev;
}

InotifyTranslator::Arrival InotifyTranslator::arrival_of(NodeId id, const std::string& from_path,
                                                        NodeId to_dir, const std::string& to_path) {
  if (!opt_.recursive || !model_.node(id).is_dir() || !model_.stat_known(id)) {
    return Arrival::as_recorded;
  }
  const sys::FileStat had = model_.stat(id);
  auto same = [](const sys::FileStat& a, const sys::FileStat& b) {
    return a.ino == b.ino && a.dev == b.dev && a.type == b.type;
  };
  sys::FileStat st;
  // Nothing there (moved on, or removed, its records still queued), or the node's own
  // directory: the records say the rest, as they always did.
  if (fs_.stat_at(AT_FDCWD, to_path.c_str(), st) != 0 || same(st, had)) return Arrival::as_recorded;
  // An inode is at one place at a time: at the source, it did not move.
  if (still_at_its_path(id, from_path)) return Arrival::never_left;
  // The destination's own directory renamed away and its name taken, the records still
  // queued: its path leads elsewhere and says nothing of this move.
  sys::FileStat dir_st;
  const std::string to_dir_path = model_.path(to_dir);
  if (!model_.stat_known(to_dir) || fs_.stat_at(AT_FDCWD, to_dir_path.c_str(), dir_st) != 0 ||
      !same(dir_st, model_.stat(to_dir))) {
    return Arrival::stale_path;
  }
  return Arrival::replaced;
}

namespace {
EventKind kind_of(std::uint32_t mask) {
  if (mask & IN_CLOSE_WRITE) return EventKind::close_write;
  if (mask & IN_ATTRIB) return EventKind::attrib;
  if (mask & IN_OPEN) return EventKind::open;
  if (mask & IN_ACCESS) return EventKind::access;
  if (mask & IN_CLOSE_NOWRITE) return EventKind::close_nowrite;
  return EventKind::modify;  // IN_MODIFY and any bit this code does not know
}
}  // namespace

bool InotifyTranslator::report_dir_read(EventKind kind, NodeId dir) {
  if (kind != EventKind::open && kind != EventKind::access && kind != EventKind::close_nowrite) {
    return false;
  }
  // Without OwnDirReads every listing of lookout's own would come back as a read.
  return own_reads_ && !own_reads_->own(kind, model_.path(dir));
}

void InotifyTranslator::handle_one(const backend::RawEvent& ev) {
  std::uint32_t m = ev.mask;
  if (m & IN_Q_OVERFLOW) {
    engine_.note_overflow();
    return;
  }
  if (m & IN_MOVED_TO && pending_move_ && pending_move_->cookie == ev.cookie) {
    NodeId to_dir = node_for_wd(ev.wd);
    PendingMove pm = std::move(*pending_move_);
    pending_move_.reset();
    if (to_dir == kNoNode) {
      engine_.vanished(pm.dir, pm.name, "moved_out");
    } else if (!model_.valid(pm.dir)) {
      engine_.appeared(to_dir, ev.name, m & IN_ISDIR, "moved_in");
    } else {
      moved(pm.dir, pm.name, to_dir, ev.name, m & IN_ISDIR);
    }
    return;
  }
  // The partner would have been adjacent (docs/kernel-facts.md#move-pair-is-adjacent).
  finish_pending_move();

  NodeId node = node_for_wd(ev.wd);
  if (m & IN_IGNORED) {
    wd_heirs_.erase(ev.wd);  // the directory is gone: nothing to inherit
    if (auto it = gone_self_.find(ev.wd); it != gone_self_.end()) {
      // lookout dropped the watch (at the parent's DELETE) before the inode went, so the
      // kernel will send no DELETE_SELF: the directory is gone all the same, say it now.
      NodeId root = model_.valid(it->second.root) ? it->second.root : kNoNode;
      engine_.emit_path(EventKind::delete_self, it->second.path, {}, true, root);
      gone_self_.erase(it);
    }
    if (node != kNoNode && watches_.wd_of(node) == ev.wd) {
      watches_.drop_node(node);
      backend_->forget(ev.wd);
      watches_.drop_wd(ev.wd);
      if (model_.is_root(node)) engine_.root_gone(node, "deleted or unmounted");
    }
    return;
  }
  if (node == kNoNode) {  // a watch already dropped with its subtree
    if (auto it = gone_self_.find(ev.wd); it != gone_self_.end() && (m & IN_DELETE_SELF)) {
      NodeId root = model_.valid(it->second.root) ? it->second.root : kNoNode;
      engine_.emit_path(EventKind::delete_self, it->second.path, {}, true, root);
      gone_self_.erase(it);
    }
    return;
  }
  const bool self = ev.name.empty();
  if (m & IN_UNMOUNT) {
    // The kernel sends IN_UNMOUNT to every watch on the unmounted filesystem, in no set
    // order. Only its mount point (a root, or a directory whose device differs from its
    // parent's) stands for the mount; a directory inside it goes with the mount point's
    // subtree. Treating it as a mount point would "uncover" a directory that is not there.
    if (!engine_.at_mount_boundary(node)) return;
    engine_.emit(EventKind::unmount, node);
    if (model_.is_root(node)) {
      engine_.root_gone(node, "unmounted");
    } else {
      // The mount point's own directory is visible again underneath: report the mounted
      // tree gone and whatever the underlying directory holds as created.
      NodeId parent = model_.node(node).parent;
      std::string name(model_.name(node));
      for (NodeId n : model_.subtree_post_order(node)) engine_.emit(EventKind::remove, n);
      model_.remove(node);
      engine_.appeared(parent, name, true);
    }
    return;
  }
  if (self) {
    if (m & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      if (model_.is_root(node)) {
        engine_.root_gone(node, m & IN_DELETE_SELF ? "deleted" : "moved away");
      } else if ((m & IN_DELETE_SELF) && engine_.watched_self(node) &&
                 self_reported_.insert(node).second) {
        engine_.emit(EventKind::delete_self, node);  // before the parent's DELETE, as it came
      }
      return;  // a subdirectory's own DELETE/MOVED event comes from its parent's watch
    }
    if (model_.is_root(node) && model_.node(node).is_dir()) {
      // A root directory read: its parent is not watched, so this is the only record.
      EventKind k = kind_of(m);
      if ((m & IN_ISDIR) && report_dir_read(k, node)) engine_.emit(k, node);
      return;
    }
    if (model_.is_root(node) && !model_.node(node).is_dir()) {
      EventKind k = kind_of(m);
      if (k == EventKind::modify || k == EventKind::close_write || k == EventKind::attrib) {
        engine_.restat(node);
      }
      engine_.emit(k, node);
    }
    // Any other directory's own records: its parent's watch reports the same, by name.
    return;
  }
  if (m & IN_CREATE) {
    engine_.appeared(node, ev.name, m & IN_ISDIR);
  } else if (m & IN_MOVED_FROM) {
    pending_move_ = PendingMove{ev.cookie, node, ev.name, static_cast<bool>(m & IN_ISDIR)};
  } else if (m & IN_MOVED_TO) {
    engine_.appeared(node, ev.name, m & IN_ISDIR, "moved_in");  // from outside: a create
  } else if (m & IN_DELETE) {
    engine_.vanished(node, ev.name);
  } else {
    NodeId child = model_.find(node, ev.name);
    if (child == kNoNode) return;  // excluded, or unknown until the pending rescan
    EventKind k = kind_of(m);
    if ((m & IN_ISDIR) && (k == EventKind::open || k == EventKind::access ||
                           k == EventKind::close_nowrite)) {
      if (report_dir_read(k, child)) engine_.emit(k, child);
      return;
    }
    if (k == EventKind::modify || k == EventKind::close_write || k == EventKind::attrib) {
      engine_.restat_reporting_writes(child, k);
    }
    engine_.emit(k, child);
    engine_.note_link_change(child, k);
  }
}

void InotifyTranslator::handle(std::vector<backend::RawEvent>& events) {
  engine_.note_kernel_read();
  for (const auto& ev : events) {
    handle_one(ev);
    // Before the next event: a later change (a sync cookie) must not overtake it.
    engine_.echo_link_changes();
  }
  engine_.retry_blind();
  if (pending_move_ && !engine_.has_ended() && backend_) {
    // The MOVED_TO half may sit just past what this read returned: look once more.
    pollfd p{backend_->fd(), POLLIN, 0};
    if (waiter_.poll(&p, 1, 1) > 0) {
      std::vector<backend::RawEvent> more;
      if (auto got = backend_->drain(more, 16384); got && *got > 0) {
        engine_.note_kernel_read();
        for (const auto& ev : more) {
          handle_one(ev);
          engine_.echo_link_changes();
        }
      }
    }
    finish_pending_move();
    engine_.echo_link_changes();
    engine_.retry_blind();
  }
}

}  // namespace lookout::core
