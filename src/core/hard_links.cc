// Hard links: what inotify and fanotify report under one name, said for every name.
// A write through `a` changes what `b` holds when both name one inode, but the kernel
// reports it for the name written through only (inotify: on the watch of a's directory;
// fanotify: with a's directory and name). The model knows every name inside the watched
// trees by (dev, inode), so each change to a file with more than one link is echoed to its
// other names. Names outside the trees are invisible to a directory watch: a write through
// one of them shows only when the file is next renamed (check_arrived) or rescanned.
#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

// A change is noted under the inode the model knows for the name. A name whose stat
// failed (its path was stale: an ancestor's rename still queued) is noted unresolved
// (ino 0) and resolved once its path does, which is by the time the queued rename is
// handled, so the echo still comes before any later event.
void Watcher::Impl::note_link_change(NodeId id, EventKind kind, bool only_if_changed) {
  if (!model.stat_known(id)) restat(id);
  const sys::FileStat st = model.stat(id);
  const bool known = model.stat_known(id);
  if (st.type == sys::FileType::dir || (known && st.nlink < 2)) return;
  const std::uint64_t dev = known ? st.dev : 0;
  const std::uint64_t ino = known ? st.ino : 0;
  for (const auto& c : link_changes) {
    if (c.dev == dev && c.ino == ino && c.origin == id && c.kind == kind &&
        c.only_if_changed == only_if_changed) {
      return;
    }
  }
  // Unresolved: restat() above put it in `unstatted`, statted again until its path resolves.
  if (ino == 0 && link_changes.size() >= kMaxUnresolvedLinkChanges) return;  // a rescan's job
  if (ino != 0) resolved_link_change = true;
  link_changes.push_back(LinkChange{dev, ino, id, kind, only_if_changed});
}

void Watcher::Impl::note_link_arrival(NodeId id) { note_link_change(id, EventKind::modify, true); }

void Watcher::Impl::restat_unstatted() {
  for (auto it = unstatted.begin(); it != unstatted.end();) {
    NodeId id = *it;
    bool pending = model.valid(id) && !model.node(id).is_dir() && !model.stat_known(id);
    if (pending) restat(id);
    it = pending && !model.stat_known(id) ? std::next(it) : unstatted.erase(it);
  }
}

void Watcher::Impl::echo_link_changes() {
  if (link_changes.empty()) return;
  // So that names whose inode was not known yet are found too. Their paths start to resolve
  // only when a rename moves something in the model: retried after one, not after every
  // event (files created and deleted before their records were read stay unresolved, and
  // restatting all of them at every event was quadratic: 140 s for 4000 files).
  const bool moved = model.moves() != unstatted_checked_at_moves;
  if (!moved && !resolved_link_change) return;  // only unresolved ones, and nothing can resolve them
  resolved_link_change = false;
  if (moved) {
    unstatted_checked_at_moves = model.moves();
    restat_unstatted();
  }
  std::vector<LinkChange> changes, unresolved;
  for (LinkChange& c : link_changes) {
    if (c.ino != 0) {
      changes.push_back(c);
      continue;
    }
    if (!model.valid(c.origin) || model.node(c.origin).is_dir()) continue;  // gone meanwhile
    const sys::FileStat o = model.stat(c.origin);
    if (!model.stat_known(c.origin)) {
      unresolved.push_back(c);
    } else if (o.nlink >= 2) {
      c.dev = o.dev;
      c.ino = o.ino;
      changes.push_back(c);
    }
  }
  link_changes = std::move(unresolved);
  if (changes.empty()) return;
  // One pass over the model per event that changed a hard-linked file, right after that
  // event: the echoes must come before anything that happened later (a consumer's sync
  // cookie is such a thing). Hard-linked writes are rare, and an index by inode for every
  // file would cost memory on every tree for them.
  std::vector<std::pair<NodeId, const LinkChange*>> echoes;
  model.for_each_node([&](NodeId id) {
    const core::Node& n = model.node(id);
    if (n.is_dir() || n.parent == core::kTopNode) return;
    const sys::FileStat st = model.stat(id);
    for (const auto& c : changes) {
      if (st.ino == c.ino && st.dev == c.dev && id != c.origin) echoes.emplace_back(id, &c);
    }
  });
  for (auto& [id, c] : echoes) {
    if (!model.valid(id)) continue;
    const sys::FileStat before = model.stat(id);
    const bool had_stat = model.stat_known(id);
    restat(id);
    // The name may hold another object by now (restat then keeps the old stat, whose inode
    // is the one changed): the inode's identity decides.
    sys::FileStat now = model.stat(id);
    if (now.ino != c->ino) continue;
    // Its path did not resolve (an ancestor's rename still queued), so the stat kept is old,
    // and may say one link: the name shares the changed inode, so it has two at least. Its
    // next write must be statted and echoed, not deferred (deferred_write_stats.cc); the
    // link() that made the other name told the kernel's fanotify mark nothing about this one.
    if (model.stat_known(id) && now.nlink < 2) {
      now.nlink = 2;
      model.set_stat(id, now);
    }
    if (c->only_if_changed && had_stat && now.size == before.size && now.mtime_ns == before.mtime_ns) continue;
    if (c->only_if_changed && !had_stat && now.mtime_ns < unstat_since_ns) continue;
    emit(c->kind, id, {}, "hard_link");
  }
}

void Watcher::Impl::check_arrived(NodeId id, const sys::FileStat& before, bool had_stat) {
  // The caller restatted it (before reporting the rename). Writes reported while its path
  // did not resolve left `before` stale: the stamps moved, but nobody missed the write.
  const bool writes_told = writes_told_stale.erase(id) > 0;
  const sys::FileStat now = model.stat(id);
  if (now.type == sys::FileType::dir || !model.stat_known(id) || writes_told) return;
  bool changed = had_stat ? now.size != before.size || now.mtime_ns != before.mtime_ns
                          // Listed without a stat at start: written since then, perhaps.
                          : now.mtime_ns >= unstat_since_ns;
  if (!changed) return;
  emit(EventKind::modify, id, {}, "stamps");
  note_link_change(id, EventKind::modify);  // so are its other names in the trees
}

}  // namespace lookout
