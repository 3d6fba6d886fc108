// What an entry's arrival, departure or change means for the model, the same whichever
// mechanism saw it (inotify, fanotify, polling, a rescan's catch-up): the engine's side of the
// translators (see core/engine_services.h). Kernel events are hints: every operation here is
// idempotent against the model, so an event that a catch-up scan or a rescan already
// accounted for changes nothing and reports nothing.
#include <fcntl.h>

#include <functional>
#include <string>
#include <string_view>

#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

int Watcher::Impl::stat_in(NodeId dir, const char* name, const std::function<std::string()>& path,
                           sys::FileStat& st) {
  const int fd = dir == core::kTopNode ? AT_FDCWD : dir_fds.fd_for(model, dir);
  if (fd >= 0 || dir == core::kTopNode) return fs->stat_at(fd, name, st);  // a root: by its path
  return fs->stat_at(AT_FDCWD, path().c_str(), st);
}

int Watcher::Impl::stat_child(NodeId dir, const std::string& name, sys::FileStat& st) {
  return stat_in(dir, name.c_str(), [&] { return model.child_path(dir, name); }, st);
}

int Watcher::Impl::stat_node(NodeId id, sys::FileStat& st) {
  core::TreeModel::CName name;  // the name copied out of the model: no string built per stat
  return stat_in(model.node(id).parent, model.c_name(id, name), [&] { return model.path(id); }, st);
}

bool Watcher::Impl::restat(NodeId id) { return restat_taken(id, model.stat(id)); }

bool Watcher::Impl::restat_taken(NodeId id, const sys::FileStat& had) {
  sys::FileStat st;
  const int err = stat_node(id, st);
  const core::Node& n = model.node(id);
  if (err != 0 || st.type != had.type) {
    if (!n.is_dir() && !model.stat_known(id)) unstatted.insert(id);  // tried again until it resolves
    return false;
  }
  // A file's name that holds another inode now was renamed over or re-created, and the
  // event saying so is still queued: taking the newcomer's stat here would make that event
  // look like nothing happened (appeared() compares inodes). The model keeps the old one.
  if (!n.is_dir() && model.stat_known(id) && (st.ino != had.ino || st.dev != had.dev)) return false;
  model.set_stat(id, st);
  return true;
}

void Watcher::Impl::appeared(NodeId dir, const std::string& name, bool is_dir_hint,
                             const char* reason) {
  NodeId existing = model.find(dir, name);
  sys::FileStat st;
  bool known = stat_child(dir, name, st) == 0;
  if (existing != kNoNode) {
    // Usually a catch-up scan reported it already. But a rename onto an existing name
    // (MOVED_TO) puts another object there: the one the model holds is gone, and what
    // arrived must be reported and listed, or its contents would never be.
    const sys::FileStat had = model.stat(existing);
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
  if (filters_paths() && excluded(model.child_path(dir, name))) return;
  // Absent by now (not found above, or vanished() just removed it): no second lookup.
  NodeId id = model.add_new(dir, name, st, known);
  // The stat shows every change the last kernel read holds: the CLOSE_WRITE that follows a
  // new file's CREATE in the same read needs no second one (half the stats of a burst).
  if (known && st.type != sys::FileType::dir) note_fresh_stat(id);
  emit(EventKind::create, id, {}, reason);
  note_link_arrival(id);
  // Watch first, then list: whatever was created inside before the watch existed is found
  // by the listing, whatever comes after by the watch (0 missed in 4000 trials:
  // docs/kernel-facts.md#new-directory-race).
  if (known && st.type == sys::FileType::dir && opt.recursive) {
    // What a directory brought in by a rename holds came with it: no record of its own.
    listing_reason = std::string_view(reason) == "moved_in" ? "with_parent" : "";
    catch_up(id, true);
    listing_reason = "";
  }
  // The path did not resolve: an ancestor was renamed and its event is still queued.
  if (!known && is_dir_hint && opt.recursive) blind.insert(id);
}

void Watcher::Impl::restat_reporting_writes(NodeId id, EventKind kind) {
  const sys::FileStat before = model.stat(id);
  const bool had_stat = model.stat_known(id);
  forget_fresh_stats_if_moved();
  bool fresh = had_stat && fresh_stats.count(id);
  const bool write = kind == EventKind::modify || kind == EventKind::close_write;
  if (write && !fresh && defer_write_stat(id, before, had_stat)) return;  // stamps read later
  // Writes already reported while the stamps were stale: they moved, but nothing was missed.
  const bool writes_told = !write && writes_told_stale.count(id) > 0;
  if (!fresh && restat_taken(id, before)) {
    fresh_stats.insert(id);
    fresh = true;
  }
  if (write) {
    if (fresh) {
      writes_told_stale.erase(id);
    } else if (writes_told_stale.size() < 4096) {
      writes_told_stale.insert(id);
    }
  }
  const core::Node& n = model.node(id);
  // Not check_arrived(): a file that entered without a stat (its path was stale) has no
  // stamps to compare, and its mtime says nothing about a write nobody reported.
  if (kind != EventKind::attrib || n.is_dir() || !had_stat || !model.stat_known(id)) return;
  if (writes_told && fresh) {
    writes_told_stale.erase(id);
    return;
  }
  const sys::FileStat now = model.stat(id);
  if (now.size == before.size && now.mtime_ns == before.mtime_ns) return;
  emit(EventKind::modify, id, {}, "stamps");
  note_link_change(id, EventKind::modify);
}

void Watcher::Impl::forget_fresh_stats_if_moved() {
  if (model.moves() != fresh_stats_moves || model.removals() != fresh_stats_removals) {
    fresh_stats.clear();
    fresh_stats_moves = model.moves();
    fresh_stats_removals = model.removals();
  }
}

void Watcher::Impl::note_fresh_stat(NodeId id) {
  forget_fresh_stats_if_moved();
  fresh_stats.insert(id);
}

void Watcher::Impl::recheck_replaced() {
  std::vector<NodeId> ids(replaced_maybe.begin(), replaced_maybe.end());
  replaced_maybe.clear();
  for (NodeId id : ids) {
    if (!model.valid(id) || model.node(id).parent == core::kTopNode || model.is_root(id)) continue;
    sys::FileStat st;
    if (stat_node(id, st) != 0) {
      // Still stale, or gone (its delete is queued and removes the node): try again later.
      if (replaced_maybe.size() < 4096) replaced_maybe.insert(id);
      continue;
    }
    const core::Node& n = model.node(id);
    const sys::FileStat had = model.stat(id);
    if (model.stat_known(id) && st.ino == had.ino && st.dev == had.dev && st.type == had.type) continue;
    if (!model.stat_known(id) && st.type == had.type && !n.is_dir()) continue;  // nothing to compare
    NodeId dir = n.parent;
    std::string name(model.name(id));
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
    // says when (InotifyTranslator::owns_delete_self); fanotify and polling have no such
    // event: made here, just before the parent's DELETE.
    if (!moved_out && watched_self(n) && !inotify->owns_delete_self(n)) {
      emit(EventKind::delete_self, n);
    }
    // Below a directory moved out, the entries went with it: no record of their own.
    emit(EventKind::remove, n, {}, n == id ? reason : moved_out ? "with_parent" : "");
  }
  // Moved out: inotify's MOVE_SELF follows the MOVED_FROM and names the old place.
  if (moved_out && watched_self(id)) emit(EventKind::move_self, id);
  model.remove(id);
}

bool Watcher::Impl::watched_self(NodeId id) const {
  // The nodes inotifywait holds a watch on: every directory under -r, else only the roots.
  return model.is_root(id) || (opt.recursive && model.node(id).is_dir());
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

}  // namespace lookout
