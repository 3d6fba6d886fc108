// What each inotify event means for the tree model, and which Events it yields.
// Kernel events are hints: every handler is idempotent against the model, so an event that
// a catch-up scan or a rescan already accounted for changes nothing and reports nothing.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>

#include <string_view>

#include "core/tree_scanner.h"
#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

NodeId Watcher::Impl::node_for_wd(int wd) const {
  NodeId id = watches.node_of(wd);
  return model.valid(id) ? id : kNoNode;
}

void Watcher::Impl::restat(NodeId id) {
  std::string p = model.path(id);
  sys::FileStat st;
  core::Node& n = model.node(id);
  if (fs->stat_at(AT_FDCWD, p.c_str(), st) != 0 || st.type != n.st.type) {
    if (!n.is_dir() && !model.stat_known(id)) unstatted.insert(id);  // tried again until it resolves
    return;
  }
  // A file's name that holds another inode now was renamed over or re-created, and the
  // event saying so is still queued: taking the newcomer's stat here would make that event
  // look like nothing happened (appeared() compares inodes). The model keeps the old one.
  if (!n.is_dir() && model.stat_known(id) && (st.ino != n.st.ino || st.dev != n.st.dev)) return;
  n.st = st;
  model.set_stat_known(id, true);
}

void Watcher::Impl::appeared(NodeId dir, const std::string& name, bool is_dir_hint,
                             const char* reason) {
  NodeId existing = model.find(dir, name);
  std::string path = model.child_path(dir, name);
  sys::FileStat st;
  bool known = fs->stat_at(AT_FDCWD, path.c_str(), st) == 0;
  if (existing != kNoNode) {
    // Usually a catch-up scan reported it already. But a rename onto an existing name
    // (MOVED_TO) puts another object there: the one the model holds is gone, and what
    // arrived must be reported and listed, or its contents would never be.
    const sys::FileStat& had = model.node(existing).st;
    if (!known) {
      // The path is stale (an ancestor's rename still queued): whether another object
      // arrived cannot be told yet. Look again once the path resolves (recheck_replaced).
      replaced_maybe.insert(existing);
      return;
    }
    if (had.ino == st.ino && had.type == st.type) return;
    vanished(dir, name);
  }
  if (!known) st.type = is_dir_hint ? sys::FileType::dir : sys::FileType::file;
  if (excluded(path)) return;
  NodeId id = model.add(dir, name, st, known);
  emit(EventKind::create, id, {}, reason);
  note_link_arrival(id);
  // Watch first, then list: whatever was created inside before the watch existed is found
  // by the listing, whatever comes after by the watch (0 missed in 4000 trials:
  // docs/kernel-facts.md#new-directory-race).
  if (known && st.type == sys::FileType::dir && opt.recursive) catch_up(id, true);
  // The path did not resolve: an ancestor was renamed and its event is still queued.
  if (!known && is_dir_hint && opt.recursive) blind.insert(id);
}

void Watcher::Impl::restat_reporting_writes(NodeId id, EventKind kind) {
  const sys::FileStat before = model.node(id).st;
  const bool had_stat = model.stat_known(id);
  restat(id);
  const core::Node& n = model.node(id);
  // Not check_arrived(): a file that entered without a stat (its path was stale) has no
  // stamps to compare, and its mtime says nothing about a write nobody reported.
  if (kind != EventKind::attrib || n.is_dir() || !had_stat || !model.stat_known(id)) return;
  if (n.st.size == before.size && n.st.mtime_ns == before.mtime_ns) return;
  emit(EventKind::modify, id, {}, "stamps");
  note_link_change(id, EventKind::modify);
}

void Watcher::Impl::recheck_replaced() {
  std::vector<NodeId> ids(replaced_maybe.begin(), replaced_maybe.end());
  replaced_maybe.clear();
  for (NodeId id : ids) {
    if (!model.valid(id) || model.node(id).parent == core::kTopNode || model.is_root(id)) continue;
    sys::FileStat st;
    if (fs->stat_at(AT_FDCWD, model.path(id).c_str(), st) != 0) {
      // Still stale, or gone (its delete is queued and removes the node): try again later.
      if (replaced_maybe.size() < 4096) replaced_maybe.insert(id);
      continue;
    }
    const core::Node& n = model.node(id);
    if (model.stat_known(id) && st.ino == n.st.ino && st.dev == n.st.dev && st.type == n.st.type) continue;
    if (!model.stat_known(id) && st.type == n.st.type && !n.is_dir()) continue;  // nothing to compare
    NodeId dir = n.parent;
    std::string name = n.name;
    vanished(dir, name);
    appeared(dir, name, st.type == sys::FileType::dir, "moved_in");
  }
}

void Watcher::Impl::vanished(NodeId dir, const std::string& name, const char* reason) {
  NodeId id = model.find(dir, name);
  if (id == kNoNode) return;
  // Children normally went first (rm -rf is bottom-up); any left over were missed or moved
  // out with the directory: report each, deepest first, so a consumer can apply them.
  const bool moved_out = std::string_view(reason) == "moved_out";
  for (NodeId n : model.subtree_post_order(id)) {
    // inotifywait -e delete_self: each watched directory reports its own end. inotify
    // says when (see gone_self); fanotify and polling have no such event: made here, just
    // before the parent's DELETE.
    if (!moved_out && watched_self(n) && !self_reported.count(n)) {
      if (inotify && watches.watched(n)) {
        if (opt.events & event_bit(EventKind::delete_self)) {
          gone_self[watches.wd_of(n)] = GoneSelf{model.path(n), model.root_of(n)};
        }
      } else {
        emit(EventKind::delete_self, n);
      }
    }
    emit(EventKind::remove, n, {}, n == id ? reason : "");
  }
  // Moved out: inotify's MOVE_SELF follows the MOVED_FROM and names the old place.
  if (moved_out && watched_self(id)) emit(EventKind::move_self, id);
  model.remove(id);
}

bool Watcher::Impl::watched_self(NodeId id) const {
  // The nodes inotifywait holds a watch on: every directory under -r, else only the roots.
  return model.is_root(id) || (opt.recursive && model.node(id).is_dir());
}

void Watcher::Impl::moved(NodeId from_dir, const std::string& from_name, NodeId to_dir,
                          const std::string& to_name, bool is_dir_hint) {
  NodeId id = model.find(from_dir, from_name);
  if (id == kNoNode) {
    appeared(to_dir, to_name, is_dir_hint, "moved_in");  // source excluded or unknown
    return;
  }
  std::string to_path = model.child_path(to_dir, to_name);
  if (excluded(to_path)) {
    vanished(from_dir, from_name, "moved_out");
    return;
  }
  std::string from = model.path(id);
  const sys::FileStat before = model.node(id).st;
  const bool had_stat = model.stat_known(id);
  if (!model.move(id, to_dir, to_name)) {
    // Only a model gone stale (events lost in an overflow) asks to move a directory into
    // itself: let the rescan settle it instead of guessing.
    schedule_rescan("inconsistent");
    return;
  }
  emit(EventKind::rename, id, from);
  if (watched_self(id)) emit(EventKind::move_self, id);  // after the pair, at the new path
  check_arrived(id, before, had_stat);  // rename changes ctime; keeps the model exact too
  // A directory renamed before its catch-up scan could open it (the scan met ENOENT) has no
  // watch yet: watch and list it at its new place now.
  const core::Node& n = model.node(id);
  if (n.is_dir() && !watches.watched(id) && opt.recursive && !under_polled(id)) catch_up(id, true);
  // So do directories inside it that met ENOENT because of this very rename: now, in event
  // order, not after the batch, or what they hold would be reported after later events.
  if (n.is_dir() && !blind.empty()) retry_blind(id);
}

void Watcher::Impl::root_gone(NodeId root, const char* how) {
  if (!model.valid(root)) return;
  std::string path = model.path(root);
  std::string_view h = how;
  if (h == "deleted") emit(EventKind::delete_self, root);
  if (h == "moved away") emit(EventKind::move_self, root);
  emit(EventKind::remove, root);
  model.remove(root);
  bool any_left = false;
  model.for_each_child(core::kTopNode, [&](NodeId) { any_left = true; });
  if (!any_left) {
    end(Error{ErrorCode::root_gone, 0, path,
              "watched path " + path + " was " + how + "; nothing is left to watch"});
  } else if (opt.on_diagnostic) {
    opt.on_diagnostic(Error{ErrorCode::root_gone, 0, path, "watched path " + path + " was " + how},
                      false);
  }
}

void Watcher::Impl::finish_pending_move() {
  if (!pending_move) return;
  PendingMove pm = std::move(*pending_move);
  pending_move.reset();
  // Moved out of every watched tree: its watches would keep reporting from outside under
  // stale paths (docs/kernel-facts.md#moved-out-watches-keep-reporting), so they go with the
  // subtree.
  if (model.valid(pm.dir)) vanished(pm.dir, pm.name, "moved_out");
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

void Watcher::Impl::handle_one(const backend::RawEvent& ev) {
  std::uint32_t m = ev.mask;
  if (m & IN_Q_OVERFLOW) {
    ++stats.overflows;
    schedule_rescan("overflow");
    return;
  }
  if (m & IN_MOVED_TO && pending_move && pending_move->cookie == ev.cookie) {
    NodeId to_dir = node_for_wd(ev.wd);
    PendingMove pm = std::move(*pending_move);
    pending_move.reset();
    if (to_dir == kNoNode) {
      vanished(pm.dir, pm.name, "moved_out");
    } else if (!model.valid(pm.dir)) {
      appeared(to_dir, ev.name, m & IN_ISDIR, "moved_in");
    } else {
      moved(pm.dir, pm.name, to_dir, ev.name, m & IN_ISDIR);
    }
    return;
  }
  // The partner would have been adjacent (docs/kernel-facts.md#move-pair-is-adjacent).
  finish_pending_move();

  NodeId node = node_for_wd(ev.wd);
  if (m & IN_IGNORED) {
    wd_heirs.erase(ev.wd);  // the directory is gone: nothing to inherit
    if (auto it = gone_self.find(ev.wd); it != gone_self.end()) {
      // lookout dropped the watch (at the parent's DELETE) before the inode went, so the
      // kernel will send no DELETE_SELF: the directory is gone all the same, say it now.
      NodeId root = model.valid(it->second.root) ? it->second.root : kNoNode;
      emit_path(EventKind::delete_self, it->second.path, {}, true, root);
      gone_self.erase(it);
    }
    if (node != kNoNode && watches.wd_of(node) == ev.wd) {
      watches.drop_node(node);
      inotify->forget(ev.wd);
      watches.drop_wd(ev.wd);
      if (model.is_root(node)) root_gone(node, "deleted or unmounted");
    }
    return;
  }
  if (node == kNoNode) {  // a watch already dropped with its subtree
    if (auto it = gone_self.find(ev.wd); it != gone_self.end() && (m & IN_DELETE_SELF)) {
      NodeId root = model.valid(it->second.root) ? it->second.root : kNoNode;
      emit_path(EventKind::delete_self, it->second.path, {}, true, root);
      gone_self.erase(it);
    }
    return;
  }
  const bool self = ev.name.empty();
  if (m & IN_UNMOUNT) {
    // The kernel sends IN_UNMOUNT to every watch on the unmounted filesystem, in no set
    // order. Only its mount point (a root, or a directory whose device differs from its
    // parent's) stands for the mount; a directory inside it goes with the mount point's
    // subtree. Treating it as a mount point would "uncover" a directory that is not there.
    if (!at_mount_boundary(node)) return;
    emit(EventKind::unmount, node);
    if (model.is_root(node)) {
      root_gone(node, "unmounted");
    } else {
      // The mount point's own directory is visible again underneath: report the mounted
      // tree gone and whatever the underlying directory holds as created.
      NodeId parent = model.node(node).parent;
      std::string name = model.node(node).name;
      for (NodeId n : model.subtree_post_order(node)) emit(EventKind::remove, n);
      model.remove(node);
      appeared(parent, name, true);
    }
    return;
  }
  if (self) {
    if (m & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      if (model.is_root(node)) {
        root_gone(node, m & IN_DELETE_SELF ? "deleted" : "moved away");
      } else if ((m & IN_DELETE_SELF) && watched_self(node) && self_reported.insert(node).second) {
        emit(EventKind::delete_self, node);  // before the parent's DELETE, as it came
      }
      return;  // a subdirectory's own DELETE/MOVED event comes from its parent's watch
    }
    if (model.is_root(node) && !model.node(node).is_dir()) {
      EventKind k = kind_of(m);
      if (k == EventKind::modify || k == EventKind::close_write || k == EventKind::attrib) restat(node);
      emit(k, node);
    }
    return;  // directory self events (open/access of the dir itself) carry no change
  }
  if (m & IN_CREATE) {
    appeared(node, ev.name, m & IN_ISDIR);
  } else if (m & IN_MOVED_FROM) {
    pending_move = PendingMove{ev.cookie, node, ev.name, static_cast<bool>(m & IN_ISDIR)};
  } else if (m & IN_MOVED_TO) {
    appeared(node, ev.name, m & IN_ISDIR, "moved_in");  // from outside: a create
  } else if (m & IN_DELETE) {
    vanished(node, ev.name);
  } else {
    NodeId child = model.find(node, ev.name);
    if (child == kNoNode) return;  // excluded, or unknown until the pending rescan
    EventKind k = kind_of(m);
    // Opening or reading a directory is what lookout's own scans do: never report those.
    if ((m & IN_ISDIR) && (k == EventKind::open || k == EventKind::access ||
                           k == EventKind::close_nowrite)) {
      return;
    }
    if (k == EventKind::modify || k == EventKind::close_write || k == EventKind::attrib) {
      restat_reporting_writes(child, k);
    }
    emit(k, child);
    note_link_change(child, k);
  }
}

void Watcher::Impl::handle(std::vector<backend::RawEvent>& events) {
  for (const auto& ev : events) {
    handle_one(ev);
    echo_link_changes();  // before the next event: a later change (a sync cookie) must not overtake it
  }
  retry_blind();
  if (pending_move && !ended && inotify) {
    // The MOVED_TO half may sit just past what this read returned: look once more.
    pollfd p{inotify->fd(), POLLIN, 0};
    if (waiter->poll(&p, 1, 1) > 0) {
      std::vector<backend::RawEvent> more;
      if (auto got = inotify->drain(more, 16384); got && *got > 0) {
        for (const auto& ev : more) {
          handle_one(ev);
          echo_link_changes();
        }
      }
    }
    finish_pending_move();
    echo_link_changes();
    retry_blind();
  }
}

}  // namespace lookout
