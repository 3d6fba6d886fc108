#include "core/tree_model.h"

#include <algorithm>

namespace lookout::core {

namespace {
constexpr NodeId kTombstone = 0xfffffffeu;

std::size_t mix(std::size_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}
}  // namespace

TreeModel::TreeModel() : slots_(1024, kNoNode) {
  Node top;
  top.st.type = sys::FileType::dir;
  nodes_.push_back(std::move(top));
  stat_known_.push_back(false);
  live_count_ = 0;
}

std::size_t TreeModel::hash_of(NodeId parent, std::string_view name) const {
  return mix(std::hash<std::string_view>{}(name) ^ (static_cast<std::size_t>(parent) * 0x9e3779b97f4a7c15ULL));
}

void TreeModel::index_grow() {
  std::vector<NodeId> old(slots_.size() * 2, kNoNode);
  old.swap(slots_);
  used_slots_ = 0;
  for (NodeId id : old) {
    if (id != kNoNode && id != kTombstone) index_insert(id);
  }
}

void TreeModel::index_insert(NodeId id) {
  // Keep the table at most half full (tombstones count) so probes stay short.
  if ((used_slots_ + 1) * 2 > slots_.size()) index_grow();
  const Node& n = nodes_[id];
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_of(n.parent, n.name) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == kNoNode) {
      slots_[i] = id;
      ++used_slots_;
      return;
    }
  }
}

void TreeModel::index_erase(NodeId id) {
  const Node& n = nodes_[id];
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_of(n.parent, n.name) & mask; slots_[i] != kNoNode; i = (i + 1) & mask) {
    if (slots_[i] == id) {
      slots_[i] = kTombstone;
      return;
    }
  }
}

NodeId TreeModel::find(NodeId parent, std::string_view name) const {
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_of(parent, name) & mask; slots_[i] != kNoNode; i = (i + 1) & mask) {
    NodeId id = slots_[i];
    if (id == kTombstone) continue;
    const Node& n = nodes_[id];
    if (n.parent == parent && n.name == name) return id;
  }
  return kNoNode;
}

NodeId TreeModel::allocate() {
  if (!free_.empty()) {
    NodeId id = free_.back();
    free_.pop_back();
    return id;
  }
  nodes_.emplace_back();
  stat_known_.push_back(false);
  return static_cast<NodeId>(nodes_.size() - 1);
}

void TreeModel::link_child(NodeId parent, NodeId id) {
  Node& p = nodes_[parent];
  Node& n = nodes_[id];
  n.parent = parent;
  n.prev_sibling = kNoNode;
  n.next_sibling = p.first_child;
  if (p.first_child != kNoNode) nodes_[p.first_child].prev_sibling = id;
  p.first_child = id;
}

void TreeModel::unlink_child(NodeId id) {
  Node& n = nodes_[id];
  if (n.prev_sibling != kNoNode) {
    nodes_[n.prev_sibling].next_sibling = n.next_sibling;
  } else if (n.parent != kNoNode) {
    nodes_[n.parent].first_child = n.next_sibling;
  }
  if (n.next_sibling != kNoNode) nodes_[n.next_sibling].prev_sibling = n.prev_sibling;
  n.prev_sibling = n.next_sibling = kNoNode;
}

NodeId TreeModel::add_root(std::string_view abs_path, const sys::FileStat& st) {
  return add(kTopNode, abs_path, st, true);
}

NodeId TreeModel::add(NodeId parent, std::string_view name, const sys::FileStat& st,
                      bool stat_known) {
  if (NodeId existing = find(parent, name); existing != kNoNode) return existing;
  return add_new(parent, name, st, stat_known);
}

NodeId TreeModel::add_new(NodeId parent, std::string_view name, const sys::FileStat& st,
                          bool stat_known) {
  NodeId id = allocate();
  Node& n = nodes_[id];
  n = Node{};
  n.name.assign(name);
  n.st = st;
  stat_known_[id] = stat_known;
  link_child(parent, id);
  index_insert(id);
  ++live_count_;
  return id;
}

std::vector<NodeId> TreeModel::children(NodeId dir) const {
  std::vector<NodeId> out;
  for_each_child(dir, [&](NodeId c) { out.push_back(c); });
  return out;
}

std::vector<NodeId> TreeModel::subtree_post_order(NodeId id) const {
  // Iterative so a 10k-deep tree cannot overflow the stack.
  std::vector<NodeId> out, stack{id};
  while (!stack.empty()) {
    NodeId cur = stack.back();
    stack.pop_back();
    out.push_back(cur);
    for_each_child(cur, [&](NodeId c) { stack.push_back(c); });
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void TreeModel::remove(NodeId id) {
  if (!valid(id) || id == kTopNode) return;
  ++removals_;
  unlink_child(id);
  for (NodeId cur : subtree_post_order(id)) {
    if (remove_hook_) remove_hook_(cur, nodes_[cur]);
    index_erase(cur);
    if (!hashes_.empty()) hashes_.erase(cur);  // the id will be reused
    Node& n = nodes_[cur];
    stat_known_[cur] = false;
    n.first_child = n.next_sibling = kNoNode;
    n.prev_sibling = kFreeSlot;
    std::string().swap(n.name);
    free_.push_back(cur);
    --live_count_;
  }
}

std::optional<std::uint64_t> TreeModel::content_hash(NodeId id) const {
  auto it = hashes_.find(id);
  if (it == hashes_.end() || !valid(id) || nodes_[id].st.ctime_ns != it->second.ctime_ns) {
    return std::nullopt;
  }
  return it->second.hash;
}

void TreeModel::set_content_hash(NodeId id, std::uint64_t hash) {
  hashes_[id] = StampedHash{hash, nodes_[id].st.ctime_ns};
}

bool TreeModel::move(NodeId id, NodeId new_parent, std::string_view new_name) {
  if (!valid(id) || !valid(new_parent) || is_ancestor(id, new_parent)) return false;
  ++moves_;
  NodeId occupant = find(new_parent, new_name);
  if (occupant == id) return true;
  // Onto its own ancestor's name: impossible on disk (rename(2) replaces only an empty
  // directory), so the model is stale; removing the occupant would free `id` itself and the
  // move would then relink a dead node (seen under fanotify between an overflow and its
  // rescan: a rename reported with an empty path). Refuse, as for a cycle.
  if (occupant != kNoNode && is_ancestor(occupant, id)) return false;
  if (occupant != kNoNode) remove(occupant);
  index_erase(id);
  unlink_child(id);
  nodes_[id].name.assign(new_name);
  link_child(new_parent, id);
  index_insert(id);
  return true;
}

std::string TreeModel::path(NodeId id) const { return build_path(id, nullptr); }

std::string TreeModel::child_path(NodeId dir, std::string_view name) const {
  if (dir == kTopNode || !valid(dir)) return "/" + std::string(name);
  return build_path(dir, &name);
}

// One allocation per path (one is built for every event): the length first, walking up the
// parent links, then the names copied in from the end back, walking up again.
std::string TreeModel::build_path(NodeId id, const std::string_view* child) const {
  if (id == kTopNode || !valid(id)) return {};
  // A root's name is its absolute path: no separator after one ending in '/' (the root "/").
  auto sep_after = [](const std::string& name) { return name.empty() || name.back() != '/'; };
  const bool child_sep = child && sep_after(nodes_[id].name);
  std::size_t len = child ? child->size() + child_sep : 0;
  for (NodeId cur = id; cur != kTopNode && cur != kNoNode; cur = nodes_[cur].parent) {
    const Node& n = nodes_[cur];
    len += n.name.size() + (cur != id && sep_after(n.name));
  }
  std::string out(len, '\0');
  std::size_t end = len;
  if (child) {
    end -= child->size();
    child->copy(out.data() + end, child->size());
    if (child_sep) out[--end] = '/';
  }
  for (NodeId cur = id; cur != kTopNode && cur != kNoNode; cur = nodes_[cur].parent) {
    const Node& n = nodes_[cur];
    if (cur != id && sep_after(n.name)) out[--end] = '/';
    end -= n.name.size();
    n.name.copy(out.data() + end, n.name.size());
  }
  return out;
}

NodeId TreeModel::root_of(NodeId id) const {
  while (id != kNoNode && id != kTopNode && nodes_[id].parent != kTopNode) id = nodes_[id].parent;
  return id;
}

bool TreeModel::is_ancestor(NodeId ancestor, NodeId id) const {
  for (NodeId cur = id; cur != kNoNode && cur != kTopNode; cur = nodes_[cur].parent) {
    if (cur == ancestor) return true;
  }
  return false;
}

NodeId TreeModel::find_path(std::string_view abs_path) const {
  // Longest root that is a prefix of the path, then one lookup per component.
  NodeId best = kNoNode;
  std::size_t best_len = 0;
  for_each_child(kTopNode, [&](NodeId r) {
    const std::string& rp = nodes_[r].name;
    if (abs_path.size() >= rp.size() && abs_path.compare(0, rp.size(), rp) == 0 &&
        (abs_path.size() == rp.size() || abs_path[rp.size()] == '/' || rp == "/") &&
        rp.size() >= best_len) {
      best = r;
      best_len = rp.size();
    }
  });
  if (best == kNoNode) return kNoNode;
  std::string_view rest = abs_path.substr(best_len);
  NodeId cur = best;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    if (rest.empty()) break;
    std::size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    cur = find(cur, part);
    if (cur == kNoNode) return kNoNode;
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  }
  return cur;
}

}  // namespace lookout::core
