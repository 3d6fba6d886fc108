// InotifyWatches: which model directory each inotify watch descriptor stands for, and back.
// A side table of the inotify side, so the tree model knows nothing of inotify and a node
// pays nothing for it under fanotify or polling (as FanotifyTranslator keys its directories
// by handle in its own maps). Owned by InotifyTranslator. Both directions are set and cleared
// explicitly: a wd may point at a node that no longer holds it (see
// InotifyTranslator::watch_dir), so readers check both. Loop thread only.
#pragma once

#include <vector>

#include "core/tree_model.h"

namespace lookout::core {

class InotifyWatches {
 public:
  // The wd `id` holds, -1 when none.
  int wd_of(NodeId id) const { return id < wd_.size() ? wd_[id] : -1; }
  bool watched(NodeId id) const { return wd_of(id) >= 0; }
  // The node `wd` was last given to, kNoNode when none (the node may be gone since).
  NodeId node_of(int wd) const {
    return wd >= 0 && static_cast<std::size_t>(wd) < node_.size() ? node_[wd] : kNoNode;
  }
  // `id` holds `wd` and `wd` stands for `id`.
  void bind(NodeId id, int wd);
  // `id` holds no wd (the wd's own entry is left as it is).
  void drop_node(NodeId id) {
    if (id < wd_.size()) wd_[id] = -1;
  }
  // `wd` stands for no node.
  void drop_wd(int wd) {
    if (wd >= 0 && static_cast<std::size_t>(wd) < node_.size()) node_[wd] = kNoNode;
  }
  // The inotify instance is gone: no node holds a wd.
  void clear() {
    wd_.clear();
    node_.clear();
  }

 private:
  std::vector<int> wd_;       // by NodeId
  std::vector<NodeId> node_;  // by wd
};

inline void InotifyWatches::bind(NodeId id, int wd) {
  // Both grow in steps: node ids and wds are dense and mostly increasing.
  if (id >= wd_.size()) wd_.resize(id + 1024, -1);
  if (static_cast<std::size_t>(wd) >= node_.size()) node_.resize(wd + 1024, kNoNode);
  wd_[id] = wd;
  node_[wd] = id;
}

}  // namespace lookout::core
