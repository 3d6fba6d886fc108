// What each fanotify record means for the model, and which Events it yields.
// Unlike inotify there is no catch-up scan racing the kernel: a filesystem mark sees every
// change from the moment it is placed, so every record inside a root is reported, and the
// model (which may still be filling in after ready) is only kept in step with it.
// Directories are named by handle; the model maps handles to nodes, so a path is the one the
// directory had when the change happened (in event order), not when the record was read.
#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

namespace {
// Keys of directories outside every root are remembered so unrelated activity on the
// filesystem costs a hash lookup, not a handle resolution (5.5 us each:
// docs/kernel-facts.md#fanotify-handle-resolution); the memory this takes is bounded by forgetting
// them all now and then.
constexpr std::size_t kMaxOutsideKeys = 65536;

}  // namespace

void Watcher::Impl::fan_map(NodeId dir, const std::string& key, bool listed) {
  if (auto old = fan_key_of.find(dir); old != fan_key_of.end() && old->second != key) {
    if (auto it = fan_dirs.find(old->second); it != fan_dirs.end() && it->second == dir) fan_dirs.erase(it);
  }
  auto [it, inserted] = fan_dirs.try_emplace(key, dir);
  if (!inserted && it->second == kNoNode) {
    --fan_outside;  // was outside, has moved in
    it->second = dir;
  } else if (!inserted && it->second != dir) {
    // Two nodes for one directory. One came from a listing, which shows the directory where
    // it is now, ahead of the records still queued: a rename not handled yet will move the
    // other node there (replacing this one). Until then the records about the directory
    // describe it at the other node's place, so the node in event order holds the key: the
    // one a record placed, or the one that was there before the listing. The other
    // inherits the key if the holder goes first (fan_forget).
    NodeId holder = it->second;
    auto held = fan_key_of.find(holder);
    const bool holder_valid = model.valid(holder) && held != fan_key_of.end() && held->second == key;
    if (listed && holder_valid) {
      fan_shadow[key].push_back(dir);
      fan_key_of[dir] = key;
      return;
    }
    if (holder_valid) fan_shadow[key].push_back(holder);
    it->second = dir;
  }
  fan_key_of[dir] = key;
}

void Watcher::Impl::fan_forget(NodeId id) {
  auto k = fan_key_of.find(id);
  if (k == fan_key_of.end()) return;
  const std::string key = std::move(k->second);
  fan_key_of.erase(k);
  auto d = fan_dirs.find(key);
  if (d == fan_dirs.end() || d->second != id) return;
  fan_dirs.erase(d);
  auto shadow = fan_shadow.find(key);
  if (shadow == fan_shadow.end()) return;
  for (NodeId other : shadow->second) {
    auto ok = fan_key_of.find(other);
    if (other != id && model.valid(other) && ok != fan_key_of.end() && ok->second == key) {
      fan_dirs[key] = other;
      break;
    }
  }
  fan_shadow.erase(shadow);
}

NodeId Watcher::Impl::root_for(const std::string& path) const {
  NodeId found = kNoNode;
  model.for_each_child(core::kTopNode, [&](NodeId r) {
    const std::string& rp = model.node(r).name;
    if (path.size() >= rp.size() && path.compare(0, rp.size(), rp) == 0 &&
        (path.size() == rp.size() || path[rp.size()] == '/' || rp == "/")) {
      found = r;
    }
  });
  return found;
}

Watcher::Impl::FanPlace Watcher::Impl::locate(const std::string& key) {
  FanPlace at;
  if (auto it = fan_dirs.find(key); it != fan_dirs.end()) {
    if (it->second == kNoNode) return at;  // outside
    auto own = fan_key_of.find(it->second);
    if (model.valid(it->second) && model.node(it->second).is_dir() && own != fan_key_of.end() &&
        own->second == key) {
      at.known = true;
      at.dir = it->second;
      at.path = model.path(at.dir);
      return at;
    }
    fan_dirs.erase(it);
  }
  at.path = fan->resolve(key);
  if (at.path.empty()) return at;  // deleted before we looked, outside or not: see below
  NodeId root = root_for(at.path);
  if (root == kNoNode) {
    // The directory of a file root sees that file's events: not outside, not in the model.
    // (A directory root's own removal comes as its self event, so its parent is outside.)
    bool holds_root = false;
    model.for_each_child(core::kTopNode, [&](NodeId r) {
      const std::string& rp = model.node(r).name;
      if (!model.node(r).is_dir() && rp.rfind(child_path(at.path, ""), 0) == 0 &&
          rp.find('/', at.path.size() + 1) == std::string::npos) {
        holds_root = true;
      }
    });
    if (holds_root) {
      at.known = true;
      return at;
    }
    remember_outside(key);
    return at;
  }
  if (!opt.recursive && at.path != model.node(root).name) {
    // Below a non-recursive root: not watched, except a subdirectory of the root itself,
    // whose own records ("." records: its attributes) are the root's entries' changes.
    // Records from inside it are dropped in handle_fan_one() (not listable).
    NodeId sub = model.find_path(at.path);
    if (sub == kNoNode || !model.node(sub).is_dir() || model.node(sub).parent != root) {
      remember_outside(key);
      return at;
    }
    fan_map(sub, key, true);
    at.dir = sub;
    at.known = true;
    return at;
  }
  at.dir = model.find_path(at.path);
  if (at.dir != kNoNode && model.node(at.dir).is_dir()) {
    fan_map(at.dir, key, true);
  } else if (excluded_below(root, at.path)) {
    // Inside an excluded directory: the mark sees it, inotify never would (an excluded
    // directory gets no watch), and filters match a path, not its ancestors. Outside.
    remember_outside(key);
    at.dir = kNoNode;
    return at;
  } else if (model_partial()) {
    at.dir = kNoNode;  // not listed yet (the crawl is still filling the model in)
  } else {
    // The model holds every directory of the tree once the crawl is done, and each has its
    // key (from its listing or its record). One that resolves inside a root but is not in
    // the model is where it is now only because of a rename not handled yet: it was
    // outside when this record was made (its contents are reported when it moves in).
    // Not remembered as outside: it may move in.
    at.dir = kNoNode;
    return at;
  }
  at.known = true;
  return at;
}

bool Watcher::Impl::excluded_below(NodeId root, const std::string& path) const {
  if (!filter || filter->empty()) return false;
  const std::string& rp = model.node(root).name;
  for (std::size_t pos = rp.size(); pos < path.size();) {
    std::size_t next = path.find('/', pos + 1);
    if (next == std::string::npos) next = path.size();
    if (excluded(path.substr(0, next))) return true;
    pos = next;
  }
  return false;
}

void Watcher::Impl::remember_outside(const std::string& key) {
  // Bounded: a filesystem mark sees every directory of the filesystem, and a tree's own
  // entries must not be swept out with the cache.
  if (fan_outside >= kMaxOutsideKeys) {
    for (auto it = fan_dirs.begin(); it != fan_dirs.end();) {
      it = it->second == kNoNode ? fan_dirs.erase(it) : std::next(it);
    }
    fan_outside = 0;
  }
  auto [it, added] = fan_dirs.try_emplace(key, kNoNode);
  if (added) {
    ++fan_outside;
  } else if (it->second != kNoNode) {
    fan_forget(it->second);  // the node held this key: it is outside now
    fan_dirs[key] = kNoNode;
    ++fan_outside;
  }
}

void Watcher::Impl::fan_created(const FanPlace& at, const std::string& name, bool is_dir,
                                const char* reason, const std::string& key) {
  std::string path = child_path(at.path, name);
  NodeId root = at.dir != kNoNode ? model.root_of(at.dir) : root_for(path);
  if (root == kNoNode || excluded(path)) return;
  if (!model.node(root).is_dir() && model.node(root).name == path) {
    // Another file renamed over a file root (an atomic save): the watched file is gone, as
    // inotify's DELETE_SELF for its inode says; the newcomer is not the file watched.
    root_gone(root, "deleted or replaced");
    return;
  }
  if (at.dir == kNoNode) {
    // Its directory is not in the model yet: the crawl will list it. Report by path.
    emit_path(EventKind::create, path, {}, is_dir, root, reason);
    return;
  }
  sys::FileStat st;
  bool known = fs->stat_at(AT_FDCWD, path.c_str(), st) == 0 &&
               (st.type == sys::FileType::dir) == is_dir;
  if (!known) {
    st = sys::FileStat{};
    st.type = is_dir ? sys::FileType::dir : sys::FileType::file;
  }
  NodeId id = model.find(at.dir, name);
  if (id != kNoNode && model.node(id).is_dir() != is_dir) {
    // The name holds an object of the other kind now: the one the model has went first (its
    // record was merged into an earlier one, or is still to come and will find nothing).
    vanished(at.dir, name, "");
    id = kNoNode;
  }
  // Already reported (by a rescan's diff or a moved-in directory's listing, which ran ahead
  // of this record) or in the consumer's view at ready: said once, as inotify's appeared()
  // does. A node the crawl listed after ready is not: the consumer has not heard of it.
  const bool reported = id != kNoNode && known && model.stat_known(id) && same_object(id, st) &&
                        (!model_partial() || in_step(at.dir));
  if (id == kNoNode) {
    id = model.add(at.dir, name, st, known);
  } else if (known && !reported) {
    model.node(id).st = st;  // the crawl listed it after it was made
    model.set_stat_known(id, true);
  }
  // Reported already: the model keeps the stamps the consumer was told of. Taking today's
  // would absorb a write made since, whose record an overflow may lose: the rescan's diff
  // would then see only a ctime move and say attrib instead of modify.
  if (!reported) emit(EventKind::create, id, {}, reason);
  if (!is_dir) note_link_arrival(id);
  // The record's own handle names this directory whatever happened to its path since.
  if (is_dir && !key.empty()) fan_map(id, key);
  // What it holds reaches the consumer only through reports (see fan_in_step).
  if (is_dir && model_partial()) fan_in_step.insert(id);
  const bool moved_in = std::string(reason) == "moved_in";
  if (is_dir && !known && moved_in) {
    blind.insert(id);  // moved on before we looked: listed (and reported) at its place later
    return;
  }
  if (!is_dir || !known) return;
  // A directory made and renamed before its record was read entered the model unstat'ed.
  if (!model.stat_known(at.dir)) restat(at.dir);
  if (model.stat_known(at.dir) && model.node(id).st.dev != model.node(at.dir).st.dev) {
    return;  // a mount: the crawl decides
  }
  if (moved_in) {
    // Its contents came with it and raise no events of their own.
    catch_up(id, true);
  } else if (key.empty()) {
    // An older kernel, no handle in the record: the path now (right unless it moved since).
    sys::FsFd fd(*fs, fs->open_dir(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.valid()) {
      if (std::string k = fan->key_of(fd.get(), st.dev); !k.empty()) fan_map(id, k, true);
    }
  }
}

NodeId Watcher::Impl::fan_node(const FanPlace& at, const std::string& name,
                               const std::string& path) const {
  // A file root's directory is not in the model: the root is found by its path.
  return at.dir != kNoNode ? model.find(at.dir, name) : model.find(core::kTopNode, path);
}

void Watcher::Impl::fan_deleted(const FanPlace& at, const std::string& name, bool is_dir,
                                const char* reason) {
  std::string path = child_path(at.path, name);
  NodeId root = at.dir != kNoNode ? model.root_of(at.dir) : root_for(path);
  if (root == kNoNode) return;
  if (model.is_root(root) && model.node(root).name == path) {
    root_gone(root, std::string(reason) == "moved_out" ? "moved away" : "deleted");
  } else if (at.dir != kNoNode && model.find(at.dir, name) != kNoNode) {
    vanished(at.dir, name, reason);
  } else if ((model_partial() && !in_step(at.dir)) || at.dir == kNoNode) {
    emit_path(EventKind::remove, path, {}, is_dir, root, reason);
  }
}

void Watcher::Impl::fan_changed(EventKind kind, const FanPlace& at, const std::string& name,
                                bool is_dir) {
  // Reading a directory (what every scanner does) is not a change to it.
  if (is_dir && (kind == EventKind::open || kind == EventKind::access ||
                 kind == EventKind::close_nowrite)) {
    return;
  }
  std::string path = child_path(at.path, name);
  NodeId id = fan_node(at, name, path);
  if (id != kNoNode) {
    if (kind == EventKind::modify || kind == EventKind::close_write || kind == EventKind::attrib) {
      restat_reporting_writes(id, kind);
    }
    emit(kind, id);
    note_link_change(id, kind);
    return;
  }
  // Not in the model: either its directory is still to be listed (report by path), or the
  // name is gone (writes to a deleted but open file: no ghost events, as with IN_EXCL_UNLINK).
  if (at.dir != kNoNode && (!model_partial() || in_step(at.dir))) return;
  NodeId root = at.dir != kNoNode ? model.root_of(at.dir) : root_for(path);
  if (root == kNoNode && at.dir == kNoNode && !is_dir) {
    // In the directory of a file root, another name of it (a hard link): the mark reports
    // the write under the name used, an inotify watch on the file's inode sees every write.
    sys::FileStat st;
    if (fs->stat_at(AT_FDCWD, path.c_str(), st) != 0) return;
    model.for_each_child(core::kTopNode, [&](NodeId r) {
      const core::Node& n = model.node(r);
      if (!n.is_dir() && n.st.ino == st.ino && n.st.dev == st.dev) root = r;
    });
    if (root == kNoNode) return;
    restat(root);
    emit(kind, root);
    return;
  }
  if (root == kNoNode || excluded(path)) return;
  emit_path(kind, path, {}, is_dir, root);
}

bool Watcher::Impl::same_object(NodeId id, const sys::FileStat& st) const {
  const sys::FileStat& known = model.node(id).st;
  if (known.ino != st.ino || known.dev != st.dev || known.type != st.type) return false;
  return !sys::births_comparable(known, st) || known.birth == st.birth;
}

void Watcher::Impl::handle_fan_one(const backend::FanEvent& ev) {
  if (ev.mask & FAN_Q_OVERFLOW) {
    ++stats.overflows;
    schedule_rescan("overflow");
    return;
  }
  // The command's own writes (its output file inside the tree, its state file) must never
  // come back as events: on a filesystem mark that loops (1.19 M events in 10 s:
  // docs/kernel-facts.md#fanotify-self-feedback). Only when asked: the pid is the whole process, so
  // a library watcher would be blind to every change its host program made.
  if (opt.drop_own_writes && ev.pid == self_pid) return;
  if (ev.mask & FAN_RENAME) {
    fan_renamed(ev);
    return;
  }
  // Records with only the object's handle (a file's own events once it has no name): its
  // name's records say all that matters.
  if (ev.dir_key.empty()) return;
  FanPlace at = locate(ev.dir_key);
  if (!at.known) return;
  const std::uint64_t m = ev.mask;
  if (ev.name == ".") {
    // Events on a directory itself. A root's own removal ends it; a subdirectory's removal
    // also comes as a DELETE or RENAME from its parent. A subdirectory's attributes are
    // reported, as inotify reports them from its parent's watch (ATTRIB with IN_ISDIR).
    if (at.dir != kNoNode && model.is_root(at.dir) && (m & (FAN_DELETE_SELF | FAN_MOVE_SELF))) {
      root_gone(at.dir, m & FAN_DELETE_SELF ? "deleted" : "moved away");
    } else if (at.dir != kNoNode && !model.is_root(at.dir) && (m & FAN_ATTRIB)) {
      restat(at.dir);
      emit(EventKind::attrib, at.dir);
    }
    return;
  }
  // Below a non-recursive root's subdirectory: not watched.
  if (at.dir != kNoNode && !listable(at.dir)) return;
  const bool is_dir = m & FAN_ONDIR;
  // The kernel merges records for one name (e.g. CREATE|MODIFY|CLOSE_WRITE). A CREATE and a
  // DELETE together are ambiguous in order: what exists now decides which came last.
  bool deleted_last = true;
  if ((m & FAN_CREATE) && (m & FAN_DELETE)) {
    sys::FileStat st;
    deleted_last = fs->stat_at(AT_FDCWD, child_path(at.path, ev.name).c_str(), st) != 0;
    if (!deleted_last) fan_deleted(at, ev.name, is_dir, "");
  }
  if (m & FAN_CREATE) fan_created(at, ev.name, is_dir, "", ev.target_key);
  if (m & FAN_OPEN) fan_changed(EventKind::open, at, ev.name, is_dir);
  if (m & FAN_ACCESS) fan_changed(EventKind::access, at, ev.name, is_dir);
  if (m & FAN_MODIFY) fan_changed(EventKind::modify, at, ev.name, is_dir);
  if (m & FAN_ATTRIB) fan_changed(EventKind::attrib, at, ev.name, is_dir);
  if (m & FAN_CLOSE_WRITE) fan_changed(EventKind::close_write, at, ev.name, is_dir);
  if (m & FAN_CLOSE_NOWRITE) fan_changed(EventKind::close_nowrite, at, ev.name, is_dir);
  if ((m & FAN_DELETE) && deleted_last) fan_deleted(at, ev.name, is_dir, "");
}

void Watcher::Impl::handle_fan(std::vector<backend::FanEvent>& events) {
  for (const auto& ev : events) {
    if (ended) return;
    handle_fan_one(ev);
    echo_link_changes();  // before the next event: a later change (a sync cookie) must not overtake it
  }
  // Directories whose path did not resolve when they were to be listed (an ancestor's
  // rename was still queued): list them at their place now. Left unlisted, their entries
  // would never enter the model and every later change to them would be dropped as a write
  // to a deleted file. A crawl's directory goes back to the crawl (its entries are the
  // consumer's already); one that moved in is caught up with its entries reported.
  retry_blind();
}

}  // namespace lookout
