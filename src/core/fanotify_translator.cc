// What each fanotify record means for the model, and which Events it yields.
// Unlike inotify there is no catch-up scan racing the kernel: a filesystem mark sees every
// change from the moment it is placed, so every record inside a root is reported, and the
// model (which may still be filling in after ready) is only kept in step with it.
// Directories are named by handle; the model maps handles to nodes, so a path is the one the
// directory had when the change happened (in event order), not when the record was read.
#include "core/fanotify_translator.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

namespace lookout::core {

namespace {
// Keys of directories outside every root are remembered so unrelated activity on the
// filesystem costs a hash lookup, not a handle resolution (5.5 us each:
// docs/kernel-facts.md#fanotify-handle-resolution); the memory this takes is bounded by forgetting
// them all now and then.
constexpr std::size_t kMaxOutsideKeys = 65536;

}  // namespace

void FanotifyTranslator::map_key(NodeId dir, const std::string& key, bool listed) {
  // Whatever key `dir` had before is dropped by assign() (held by no one if `dir` held it).
  if (auto held = keys_.holder(key); held && *held != kNoNode && *held != dir) {
    // Two nodes for one directory. One came from a listing, which shows the directory where
    // it is now, ahead of the records still queued: a rename not handled yet will move the
    // other node there (replacing this one). Until then the records about the directory
    // describe it at the other node's place, so the node in event order holds the key: the
    // one a record placed, or the one that was there before the listing. The other
    // inherits the key if the holder goes first (forget_key).
    const NodeId holder = *held;
    const bool holder_valid = model_.valid(holder) && keys_.has_key(holder, key);
    if (listed && holder_valid) {
      shadow_[key].push_back(dir);
      keys_.assign(dir, key, false);
      return;
    }
    if (holder_valid) shadow_[key].push_back(holder);
  }
  // An outside mark on the key is dropped: the directory has moved in.
  keys_.assign(dir, key, true);
}

void FanotifyTranslator::forget_key(NodeId id) {
  if (shadow_.empty()) {
    keys_.erase(id);
    return;
  }
  auto key = keys_.key_of(id);
  if (!key) return;
  const bool held = keys_.holder(*key) == id;
  keys_.erase(id);
  if (!held) return;
  auto shadow = shadow_.find(*key);
  if (shadow == shadow_.end()) return;
  for (NodeId other : shadow->second) {
    if (other != id && model_.valid(other) && keys_.has_key(other, *key)) {
      keys_.hold(other);
      break;
    }
  }
  shadow_.erase(shadow);
}

NodeId FanotifyTranslator::root_for(const std::string& path) const {
  NodeId found = kNoNode;
  model_.for_each_child(kTopNode, [&](NodeId r) {
    const std::string_view rp = model_.name(r);
    if (path.size() >= rp.size() && path.compare(0, rp.size(), rp) == 0 &&
        (path.size() == rp.size() || path[rp.size()] == '/' || rp == "/")) {
      found = r;
    }
  });
  return found;
}

FanotifyTranslator::Place FanotifyTranslator::locate(const std::string& key) {
  Place at;
  if (auto held = keys_.holder(key)) {
    if (*held == kNoNode) return at;  // outside
    if (model_.valid(*held) && model_.node(*held).is_dir() && keys_.has_key(*held, key)) {
      at.known = true;
      at.dir = *held;
      at.path = model_.path(at.dir);
      return at;
    }
    keys_.release(key);
  }
  at.path = group_->resolve(key);
  if (at.path.empty()) return at;  // deleted before we looked, outside or not: see below
  NodeId root = root_for(at.path);
  if (root == kNoNode) {
    // The directory of a file root sees that file's events: not outside, not in the model_.
    // (A directory root's own removal comes as its self event, so its parent is outside.)
    bool holds_root = false;
    model_.for_each_child(kTopNode, [&](NodeId r) {
      const std::string_view rp = model_.name(r);
      if (!model_.node(r).is_dir() && rp.rfind(child_path(at.path, ""), 0) == 0 &&
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
  if (!opt_.recursive && at.path != model_.name(root)) {
    // Below a non-recursive root: not watched, except a subdirectory of the root itself,
    // whose own records ("." records: its attributes) are the root's entries' changes.
    // Records from inside it are dropped in handle_one() (not listable).
    NodeId sub = model_.find_path(at.path);
    if (sub == kNoNode || !model_.node(sub).is_dir() || model_.node(sub).parent != root) {
      remember_outside(key);
      return at;
    }
    map_key(sub, key, true);
    at.dir = sub;
    at.known = true;
    return at;
  }
  at.dir = model_.find_path(at.path);
  if (at.dir != kNoNode && model_.node(at.dir).is_dir()) {
    map_key(at.dir, key, true);
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

bool FanotifyTranslator::excluded_below(NodeId root, const std::string& path) const {
  if (!engine_.filters_paths()) return false;
  const std::string_view rp = model_.name(root);
  for (std::size_t pos = rp.size(); pos < path.size();) {
    std::size_t next = path.find('/', pos + 1);
    if (next == std::string::npos) next = path.size();
    if (engine_.excluded(path.substr(0, next))) return true;
    pos = next;
  }
  return false;
}

void FanotifyTranslator::remember_outside(const std::string& key) {
  // Bounded: a filesystem mark sees every directory of the filesystem, and a tree's own
  // entries must not be swept out with the cache.
  if (keys_.outside_count() >= kMaxOutsideKeys) keys_.forget_outside();
  if (auto held = keys_.holder(key); held && *held != kNoNode) {
    forget_key(*held);  // the node held this key: it is outside now
  }
  keys_.mark_outside(key);
}

void FanotifyTranslator::created(const Place& at, const std::string& name, bool is_dir,
                                 const char* reason, const std::string& key) {
  std::string path = child_path(at.path, name);
  NodeId root = at.dir != kNoNode ? model_.root_of(at.dir) : root_for(path);
  if (root == kNoNode || engine_.excluded(path)) return;
  if (!model_.node(root).is_dir() && model_.name(root) == path) {
    // Another file renamed over a file root (an atomic save): the watched file is gone, as
    // inotify's DELETE_SELF for its inode says; the newcomer is not the file watched.
    engine_.root_gone(root, "deleted or replaced");
    return;
  }
  if (at.dir == kNoNode) {
    // Its directory is not in the model yet: the crawl will list it. Report by path.
    engine_.emit_path(EventKind::create, path, {}, is_dir, root, reason);
    return;
  }
  sys::FileStat st;
  bool known = engine_.stat_child(at.dir, name, st) == 0 && (st.type == sys::FileType::dir) == is_dir;
  if (!known) {
    st = sys::FileStat{};
    st.type = is_dir ? sys::FileType::dir : sys::FileType::file;
  }
  NodeId id = model_.find(at.dir, name);
  if (id != kNoNode && model_.node(id).is_dir() != is_dir) {
    // The name holds an object of the other kind now: the one the model has went first (its
    // record was merged into an earlier one, or is still to come and will find nothing).
    engine_.vanished(at.dir, name, "");
    id = kNoNode;
  }
  // Already reported (by a rescan's diff or a moved-in directory's listing, which ran ahead
  // of this record) or in the consumer's view at ready: said once, as the engine's appeared()
  // does. A node the crawl listed after ready is not: the consumer has not heard of it.
  // A name that no longer resolves (the object moved on or went, its records still queued)
  // cannot be checked against the node; but in a directory in step the node is one the
  // consumer was told of, and this record is what put it there: in auto mode the hand-over
  // applies the watches' queue after the mark is placed, so a change made just after the
  // mark is in both, and the mark's record comes second. Reported again, it was a second
  // create of one object (and of all it held).
  if (id == kNoNode && !known && is_dir && reported_elsewhere(key)) {
    // The same, with the rename that moved it on applied too: by its handle, the model
    // has the directory at its new name, where the consumer was told it is.
    return;
  }
  const bool consumer_has = id != kNoNode && (!model_partial() || in_step(at.dir));
  const bool reported = consumer_has && (!known || (model_.stat_known(id) && same_object(id, st)));
  // Taken as reported without a look: a moved-in object that replaced the one the model has
  // and moved on would pass for it, renamed (stress seed 783018108). Its node is looked at
  // after the read, where its rename has put it: another object there is a delete and create.
  if (consumer_has && !known) engine_.note_replaced_maybe(id);
  if (id == kNoNode) {
    id = model_.add(at.dir, name, st, known);
  } else if (known && !reported) {
    model_.set_stat(id, st);  // the crawl listed it after it was made
  }
  // Reported already: the model keeps the stamps the consumer was told of. Taking today's
  // would absorb a write made since, whose record an overflow may lose: the rescan's diff
  // would then see only a ctime move and say attrib instead of modify.
  if (!reported) {
    // As inotify's appeared(): the CLOSE_WRITE that follows in this read needs no second stat.
    if (known && !is_dir) engine_.note_fresh_stat(id);
    engine_.emit(EventKind::create, id, {}, reason);
  }
  if (!is_dir) engine_.note_link_arrival(id);
  // The record's own handle names this directory whatever happened to its path since.
  if (is_dir && !key.empty()) map_key(id, key);
  // What it holds reaches the consumer only through reports (see in_step_).
  if (is_dir && model_partial()) in_step_.insert(id);
  const bool moved_in = std::string(reason) == "moved_in";
  if (is_dir && !known && moved_in) {
    engine_.note_blind(id);  // moved on before we looked: listed (and reported) at its place later
    return;
  }
  if (!is_dir || !known) return;
  // A directory made and renamed before its record was read entered the model unstat'ed.
  if (!model_.stat_known(at.dir)) engine_.restat(at.dir);
  if (model_.stat_known(at.dir) && model_.stat(id).dev != model_.stat(at.dir).dev) {
    return;  // a mount: the crawl decides
  }
  if (moved_in) {
    // Its contents came with it and raise no events of their own.
    engine_.catch_up(id, true);
  } else if (key.empty()) {
    // An older kernel, no handle in the record: the path now (right unless it moved since).
    sys::FsFd fd(fs_, fs_.open_dir(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.valid()) {
      if (std::string k = group_->key_of(fd.get(), st.dev); !k.empty()) map_key(id, k, true);
    }
  }
}

bool FanotifyTranslator::reported_elsewhere(const std::string& key) const {
  if (key.empty()) return false;  // an older kernel: no handle to know the object by
  auto held = keys_.holder(key);
  if (!held || *held == kNoNode || !model_.valid(*held) || !keys_.has_key(*held, key)) return false;
  const NodeId parent = model_.node(*held).parent;
  return parent != kTopNode && (!model_partial() || in_step(parent));
}

NodeId FanotifyTranslator::node_at(const Place& at, const std::string& name,
                                   const std::string& path) const {
  // A file root's directory is not in the model: the root is found by its path.
  return at.dir != kNoNode ? model_.find(at.dir, name) : model_.find(kTopNode, path);
}

void FanotifyTranslator::deleted(const Place& at, const std::string& name, bool is_dir,
                                 const char* reason) {
  std::string path = child_path(at.path, name);
  NodeId root = at.dir != kNoNode ? model_.root_of(at.dir) : root_for(path);
  if (root == kNoNode) return;
  if (model_.is_root(root) && model_.name(root) == path) {
    engine_.root_gone(root, std::string(reason) == "moved_out" ? "moved away" : "deleted");
  } else if (at.dir != kNoNode && model_.find(at.dir, name) != kNoNode) {
    engine_.vanished(at.dir, name, reason);
  } else if ((model_partial() && !in_step(at.dir)) || at.dir == kNoNode) {
    engine_.emit_path(EventKind::remove, path, {}, is_dir, root, reason);
  }
}

void FanotifyTranslator::changed(EventKind kind, const Place& at, const std::string& name,
                                 bool is_dir) {
  // A directory's reads come as its own records (name "."; handle_one), never by name.
  if (is_dir && (kind == EventKind::open || kind == EventKind::access ||
                 kind == EventKind::close_nowrite)) {
    return;
  }
  std::string path = child_path(at.path, name);
  NodeId id = node_at(at, name, path);
  if (id != kNoNode) {
    if (kind == EventKind::modify || kind == EventKind::close_write || kind == EventKind::attrib) {
      engine_.restat_reporting_writes(id, kind);
    }
    engine_.emit(kind, id);
    engine_.note_link_change(id, kind);
    return;
  }
  // Not in the model: either its directory is still to be listed (report by path), or the
  // name is gone (writes to a deleted but open file: no ghost events, as with IN_EXCL_UNLINK).
  if (at.dir != kNoNode && (!model_partial() || in_step(at.dir))) return;
  NodeId root = at.dir != kNoNode ? model_.root_of(at.dir) : root_for(path);
  if (root == kNoNode && at.dir == kNoNode && !is_dir) {
    // In the directory of a file root, another name of it (a hard link): the mark reports
    // the write under the name used, an inotify watch on the file's inode sees every write.
    sys::FileStat st;
    if (fs_.stat_at(AT_FDCWD, path.c_str(), st) != 0) return;
    model_.for_each_child(kTopNode, [&](NodeId r) {
      const Node& n = model_.node(r);
      if (!n.is_dir() && model_.stat(r).ino == st.ino && model_.stat(r).dev == st.dev) root = r;
    });
    if (root == kNoNode) return;
    engine_.restat(root);
    engine_.emit(kind, root);
    return;
  }
  if (root == kNoNode || engine_.excluded(path)) return;
  engine_.emit_path(kind, path, {}, is_dir, root);
}

bool FanotifyTranslator::same_object(NodeId id, const sys::FileStat& st) const {
  const sys::FileStat known = model_.stat(id);
  if (known.ino != st.ino || known.dev != st.dev || known.type != st.type) return false;
  return !sys::births_comparable(known, st) || known.birth == st.birth;
}

void FanotifyTranslator::handle_one(const backend::FanEvent& ev) {
  if (ev.mask & FAN_Q_OVERFLOW) {
    engine_.note_overflow();
    return;
  }
  // The command's own writes (its output file inside the tree, its state file) must never
  // come back as events: on a filesystem mark that loops (1.19 M events in 10 s:
  // docs/kernel-facts.md#fanotify-self-feedback). Only when asked: the pid is the whole process, so
  // a library watcher would be blind to every change its host program made.
  if (opt_.drop_own_writes && ev.pid == self_pid_) return;
  if (ev.mask & FAN_RENAME) {
    renamed(ev);
    return;
  }
  // Records with only the object's handle (a file's own events once it has no name): its
  // name's records say all that matters.
  if (ev.dir_key.empty()) return;
  Place at = locate(ev.dir_key);
  if (!at.known) return;
  const std::uint64_t m = ev.mask;
  if (ev.name == ".") {
    // Events on a directory itself. A root's own removal ends it; a subdirectory's removal
    // also comes as a DELETE or RENAME from its parent. A subdirectory's attributes are
    // reported, as inotify reports them from its parent's watch (ATTRIB with IN_ISDIR).
    if (at.dir != kNoNode && model_.is_root(at.dir) && (m & (FAN_DELETE_SELF | FAN_MOVE_SELF))) {
      engine_.root_gone(at.dir, m & FAN_DELETE_SELF ? "deleted" : "moved away");
    } else if (at.dir != kNoNode && !model_.is_root(at.dir) && (m & FAN_ATTRIB)) {
      engine_.restat(at.dir);
      engine_.emit(EventKind::attrib, at.dir);
    }
    // A directory being read (inotifywatch counts these), unless by lookout's own listings:
    // fanotify says who read it. Records merged by the kernel count once.
    if (at.dir != kNoNode && (m & FAN_ONDIR) && ev.pid != self_pid_) {
      if (m & FAN_OPEN) engine_.emit(EventKind::open, at.dir);
      if (m & FAN_ACCESS) engine_.emit(EventKind::access, at.dir);
      if (m & FAN_CLOSE_NOWRITE) engine_.emit(EventKind::close_nowrite, at.dir);
    }
    return;
  }
  // Below a non-recursive root's subdirectory: not watched.
  if (at.dir != kNoNode && !engine_.listable(at.dir)) return;
  const bool is_dir = m & FAN_ONDIR;
  // The kernel merges records for one name (e.g. CREATE|MODIFY|CLOSE_WRITE). A CREATE and a
  // DELETE together are ambiguous in order: what exists now decides which came last.
  bool deleted_last = true;
  if ((m & FAN_CREATE) && (m & FAN_DELETE)) {
    sys::FileStat st;
    deleted_last = fs_.stat_at(AT_FDCWD, child_path(at.path, ev.name).c_str(), st) != 0;
    if (!deleted_last) deleted(at, ev.name, is_dir, "");
  }
  if (m & FAN_CREATE) created(at, ev.name, is_dir, "", ev.target_key);
  if (m & FAN_OPEN) changed(EventKind::open, at, ev.name, is_dir);
  if (m & FAN_ACCESS) changed(EventKind::access, at, ev.name, is_dir);
  if (m & FAN_MODIFY) changed(EventKind::modify, at, ev.name, is_dir);
  if (m & FAN_ATTRIB) changed(EventKind::attrib, at, ev.name, is_dir);
  if (m & FAN_CLOSE_WRITE) changed(EventKind::close_write, at, ev.name, is_dir);
  if (m & FAN_CLOSE_NOWRITE) changed(EventKind::close_nowrite, at, ev.name, is_dir);
  if ((m & FAN_DELETE) && deleted_last) deleted(at, ev.name, is_dir, "");
}

void FanotifyTranslator::handle(std::vector<backend::FanEvent>& events) {
  engine_.note_kernel_read();
  for (const auto& ev : events) {
    if (engine_.has_ended()) return;
    handle_one(ev);
    // Before the next event: a later change (a sync cookie) must not overtake it.
    engine_.echo_link_changes();
  }
  // Directories whose path did not resolve when they were to be listed (an ancestor's
  // rename was still queued): list them at their place now. Left unlisted, their entries
  // would never enter the model and every later change to them would be dropped as a write
  // to a deleted file. A crawl's directory goes back to the crawl (its entries are the
  // consumer's already); one that moved in is caught up with its entries reported.
  engine_.retry_blind();
}

}  // namespace lookout::core
