// NodeSet: a set of node ids emptied often (once per kernel read) and filled fast: a bit per
// id plus the list of the ids set, so that once warmed up an insert, a lookup and a clear
// allocate nothing (a std::unordered_set allocated a node per insert: one per event of a
// burst). Memory: a bit per node id ever inserted, a word per id in the set. Loop thread.
#pragma once

#include <cstddef>
#include <vector>

#include "core/tree_model.h"

namespace lookout::core {

class NodeSet {
 public:
  // True when `id` was not in the set.
  bool insert(NodeId id) {
    if (id >= bits_.size()) bits_.resize(static_cast<std::size_t>(id) + 1 + id / 2);
    if (bits_[id]) return false;
    bits_[id] = true;
    ids_.push_back(id);
    return true;
  }
  std::size_t count(NodeId id) const { return id < bits_.size() && bits_[id]; }
  // O(size()): only the bits that are set are cleared.
  void clear() {
    for (NodeId id : ids_) bits_[id] = false;
    ids_.clear();
  }
  bool empty() const { return ids_.empty(); }
  std::size_t size() const { return ids_.size(); }

 private:
  std::vector<bool> bits_;
  std::vector<NodeId> ids_;
};

}  // namespace lookout::core
