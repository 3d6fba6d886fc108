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

void Watcher::Impl::note_link_change(NodeId id, EventKind kind) {
  const core::Node& n = model.node(id);
  if (n.is_dir() || !n.stat_known || n.st.nlink < 2) return;
  for (const auto& c : link_changes) {
    if (c.dev == n.st.dev && c.ino == n.st.ino && c.origin == id && c.kind == kind) return;
  }
  link_changes.push_back(LinkChange{n.st.dev, n.st.ino, id, kind});
}

void Watcher::Impl::note_link_arrival(NodeId id) {
  const core::Node& n = model.node(id);
  if (n.is_dir() || !n.stat_known || n.st.nlink < 2) return;
  link_changes.push_back(LinkChange{n.st.dev, n.st.ino, id, EventKind::modify, true});
}

void Watcher::Impl::echo_link_changes() {
  if (link_changes.empty()) return;
  std::vector<LinkChange> changes;
  changes.swap(link_changes);
  // One pass over the model for the whole batch: hard-linked writes are rare, and an index
  // by inode for every file would cost memory on every tree for them.
  std::vector<std::pair<NodeId, const LinkChange*>> echoes;
  model.for_each_node([&](NodeId id) {
    const core::Node& n = model.node(id);
    if (n.is_dir() || n.parent == core::kTopNode) return;
    for (const auto& c : changes) {
      if (n.st.ino == c.ino && n.st.dev == c.dev && id != c.origin) echoes.emplace_back(id, &c);
    }
  });
  for (auto& [id, c] : echoes) {
    if (!model.valid(id)) continue;
    const sys::FileStat before = model.node(id).st;
    const bool had_stat = model.node(id).stat_known;
    restat(id);
    // The name may hold another object by now (restat keeps the model's type only): the
    // inode's identity decides.
    const core::Node& n = model.node(id);
    if (n.st.ino != c->ino) continue;
    if (c->only_if_changed && had_stat && n.st.size == before.size && n.st.mtime_ns == before.mtime_ns) continue;
    if (c->only_if_changed && !had_stat && n.st.mtime_ns < unstat_since_ns) continue;
    emit(c->kind, id);
  }
}

void Watcher::Impl::check_arrived(NodeId id, const sys::FileStat& before, bool had_stat) {
  restat(id);
  const core::Node& n = model.node(id);
  if (n.is_dir() || !n.stat_known) return;
  bool changed = had_stat ? n.st.size != before.size || n.st.mtime_ns != before.mtime_ns
                          // Listed without a stat at start: written since then, perhaps.
                          : n.st.mtime_ns >= unstat_since_ns;
  if (!changed) return;
  emit(EventKind::modify, id);
  note_link_change(id, EventKind::modify);  // so are its other names in the trees
}

}  // namespace lookout
