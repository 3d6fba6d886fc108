// InotifyWatches: which model directory each inotify watch descriptor stands for, and back.
// A side table of the inotify side, so the tree model knows nothing of inotify and a node
// pays nothing for it under fanotify or polling (as FanotifyTranslator keys its directories
// by handle in its own maps). Owned by InotifyTranslator. Both directions are set and cleared
// explicitly: a wd may point at a node that no longer holds it (see
// InotifyTranslator::watch_dir), so readers check both. Loop thread only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/slot_math.h"
#include "core/tree_model.h"

namespace lookout::core {

class InotifyWatches {
 public:
  // The wd `id` holds, -1 when none.
  int wd_of(NodeId id) const {
    if (count_ == 0) return -1;
    for (std::size_t i = home(id);; i = next(i)) {
      if (by_node_[i].id == id) return by_node_[i].wd;
      if (by_node_[i].id == kNoNode) return -1;
    }
  }
  bool watched(NodeId id) const { return wd_of(id) >= 0; }
  // The node `wd` was last given to, kNoNode when none (the node may be gone since).
  NodeId node_of(int wd) const {
    return wd >= 0 && static_cast<std::size_t>(wd) < node_.size() ? node_[wd] : kNoNode;
  }
  // `id` holds `wd` and `wd` stands for `id`.
  void bind(NodeId id, int wd);
  // `id` holds no wd (the wd's own entry is left as it is).
  void drop_node(NodeId id);
  // `wd` stands for no node.
  void drop_wd(int wd) {
    if (wd >= 0 && static_cast<std::size_t>(wd) < node_.size()) node_[wd] = kNoNode;
  }
  // After a crawl: the table sized to its entries (7/5 slots each, not up to 8/3).
  void shrink() {
    const std::size_t slots = std::max<std::size_t>(64, count_ * 7 / 5 + 1);
    if (slots < by_node_.size()) rebuild(slots);
  }
  // The inotify instance is gone: no node holds a wd (and the tables' memory goes back).
  void clear() {
    std::vector<Slot>().swap(by_node_);
    std::vector<NodeId>().swap(node_);
    count_ = 0;
  }

 private:
  // NodeId -> wd for the watched directories only, open-addressed (linear probing, erased by
  // shifting back): 8 bytes a slot, the table at most 3/4 full, of any size (the hash's high
  // half scaled to it). A vector by NodeId took 4 bytes for every node, files included (10 of
  // 11 nodes), 2.2 MB at 550k entries.
  struct Slot {
    NodeId id = kNoNode;
    int wd = -1;
  };
  std::size_t home(NodeId id) const {
    return scaled_slot(static_cast<std::uint32_t>((id * 0x9e3779b97f4a7c15ULL) >> 32), by_node_.size());
  }
  std::size_t next(std::size_t i) const { return next_slot(i, by_node_.size()); }
  void rebuild(std::size_t slots);
  void put(NodeId id, int wd);  // the node -> wd half of bind()
  std::vector<Slot> by_node_;
  std::size_t count_ = 0;
  std::vector<NodeId> node_;  // by wd (dense: the kernel hands out the lowest free ones)
};

inline void InotifyWatches::rebuild(std::size_t slots) {
  std::vector<Slot> old(slots);
  old.swap(by_node_);
  count_ = 0;
  for (const Slot& s : old) {
    if (s.id != kNoNode) put(s.id, s.wd);
  }
}

inline void InotifyWatches::put(NodeId id, int wd) {
  if ((count_ + 1) * 4 > by_node_.size() * 3) rebuild(std::max<std::size_t>(64, (count_ + 1) * 2));
  for (std::size_t i = home(id);; i = next(i)) {
    if (by_node_[i].id == id || by_node_[i].id == kNoNode) {
      count_ += by_node_[i].id == kNoNode;
      by_node_[i] = Slot{id, wd};
      return;
    }
  }
}

inline void InotifyWatches::bind(NodeId id, int wd) {
  put(id, wd);
  // wds are dense and mostly increasing: grow in steps.
  if (static_cast<std::size_t>(wd) >= node_.size()) node_.resize(wd + 1024, kNoNode);
  node_[wd] = id;
}

inline void InotifyWatches::drop_node(NodeId id) {
  if (count_ == 0) return;
  std::size_t i = home(id);
  while (by_node_[i].id != id) {
    if (by_node_[i].id == kNoNode) return;
    i = next(i);
  }
  // Shift back the entries after it whose home is at or before the hole, so every lookup's
  // run of slots stays unbroken.
  for (std::size_t j = next(i); by_node_[j].id != kNoNode; j = next(j)) {
    const std::size_t h = home(by_node_[j].id);
    // Movable when its home is not in the cyclic range (i, j].
    const bool in_range = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (!in_range) {
      by_node_[i] = by_node_[j];
      i = j;
    }
  }
  by_node_[i] = Slot{};
  --count_;
}

}  // namespace lookout::core
