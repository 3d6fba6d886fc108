#include "core/tree_model.h"

#include <algorithm>
#include <new>

#include "core/slot_math.h"

namespace lookout::core {

namespace {
// An index slot holds a node id in its low 28 bits and 4 bits of the (parent, name) hash
// above them: a probe past another entry's slot then reads the node (another cache line)
// only once in 16 times, which lets the table run three-quarters full (5-8 bytes an entry
// instead of 8-16). Ids stay below 2^28 - 2, so no slot can read as empty or erased.
constexpr NodeId kTombstone = 0xfffffffeu;
constexpr unsigned kTagShift = 28;
constexpr std::uint32_t kIdMask = (1u << kTagShift) - 1;
constexpr std::size_t kMinSlots = 1024;

std::size_t mix(std::size_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}
std::uint32_t tag_of(std::size_t h) { return static_cast<std::uint32_t>(h & 0xf) << kTagShift; }
}  // namespace

TreeModel::TreeModel() : slots_(kMinSlots, kNoNode) {
  Node top;
  top.set_type(sys::FileType::dir);
  nodes_.push_back(std::move(top));
  live_count_ = 0;
}

std::size_t TreeModel::hash_of(NodeId parent, std::string_view name) const {
  return mix(std::hash<std::string_view>{}(name) ^ (static_cast<std::size_t>(parent) * 0x9e3779b97f4a7c15ULL));
}

// The table's size is any number, not a power of two (the high half of the hash scaled to
// it), so a rebuild sizes it to twice the live entries: the table is 1/2 to 3/4 full.
std::size_t TreeModel::home_slot(std::size_t h) const {
  return scaled_slot(static_cast<std::uint32_t>(h >> 32), slots_.size());
}

void TreeModel::shrink_index() {
  const std::size_t slots = std::max(kMinSlots, live_count_ * 7 / 5 + 1);
  if (slots < slots_.size()) index_rebuild(slots, kNoNode);
}

// Every live node but the top one is in the index, except `skip` (being inserted by the
// caller). Walked by node id, not by old slot: nodes and names are then read in the order
// they were made, where a walk in slot order missed the cache twice an entry (a burst that
// doubled the tree spent 6.5 % of its CPU here).
void TreeModel::index_rebuild(std::size_t slots, NodeId skip) {
  std::vector<NodeId>(slots, kNoNode).swap(slots_);
  used_slots_ = 0;
  for (NodeId id = 1; id < nodes_.size(); ++id) {
    if (id != skip && valid(id)) index_place(id);
  }
}

void TreeModel::index_insert(NodeId id) {
  // At most three-quarters full, erased slots included, so probes stay short.
  if ((used_slots_ + 1) * 4 > slots_.size() * 3) index_rebuild(std::max(kMinSlots, (live_count_ + 1) * 2), id);
  index_place(id);
}

void TreeModel::index_place(NodeId id) {
  const Node& n = nodes_[id];
  const std::size_t h = hash_of(n.parent, name(id));
  const std::size_t size = slots_.size();
  for (std::size_t i = home_slot(h);; i = next_slot(i, size)) {
    if (slots_[i] == kNoNode || slots_[i] == kTombstone) {
      used_slots_ += slots_[i] == kNoNode;
      slots_[i] = tag_of(h) | id;
      return;
    }
  }
}

void TreeModel::index_erase(NodeId id) {
  const Node& n = nodes_[id];
  const std::size_t size = slots_.size();
  for (std::size_t i = home_slot(hash_of(n.parent, name(id))); slots_[i] != kNoNode;
       i = next_slot(i, size)) {
    if (slots_[i] != kTombstone && (slots_[i] & kIdMask) == id) {
      slots_[i] = kTombstone;
      return;
    }
  }
}

NodeId TreeModel::find(NodeId parent, std::string_view name) const {
  const std::size_t h = hash_of(parent, name);
  const std::uint32_t tag = tag_of(h);
  const std::size_t size = slots_.size();
  for (std::size_t i = home_slot(h); slots_[i] != kNoNode; i = next_slot(i, size)) {
    const NodeId w = slots_[i];
    if (w == kTombstone || (w & ~kIdMask) != tag) continue;
    const NodeId id = w & kIdMask;
    const Node& n = nodes_[id];
    if (n.parent == parent && names_.equals(n.name_, name)) return id;
  }
  return kNoNode;
}

NodeId TreeModel::allocate() {
  if (!free_.empty()) {
    NodeId id = free_.back();
    free_.pop_back();
    return id;
  }
  // The index keeps 4 bits of hash above an id (see kTagShift): 268M nodes, 8.6 GB of them.
  if (nodes_.size() >= kIdMask - 1) throw std::bad_alloc();
  nodes_.emplace_back();
  return static_cast<NodeId>(nodes_.size() - 1);
}

void TreeModel::hold_children(NodeId id) {
  Node& n = nodes_[id];
  if (n.holds_children()) return;
  if (n.stat_slot() == Node::kNoStat && id != kTopNode) {
    const sys::FileStat st = stat(id);  // the listing's type, inode and derived dev
    take_stat_slot(n);
    stats_[n.stat_slot()] = st;
  }
  n.meta_ |= Node::kChildrenBit;
  n.word_ = kNoNode;
}

void TreeModel::link_child(NodeId parent, NodeId id) {
  hold_children(parent);  // a directory already does; the top node and a stale file may not
  Node& p = nodes_[parent];
  Node& n = nodes_[id];
  n.parent = parent;
  n.prev_sibling = kNoNode;
  n.next_sibling = p.word_;
  if (p.word_ != kNoNode) nodes_[p.word_].prev_sibling = id;
  p.word_ = id;
}

void TreeModel::unlink_child(NodeId id) {
  Node& n = nodes_[id];
  if (n.prev_sibling != kNoNode) {
    nodes_[n.prev_sibling].next_sibling = n.next_sibling;
  } else if (n.parent != kNoNode) {
    nodes_[n.parent].word_ = n.next_sibling;
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
  const std::uint32_t slot = n.stat_slot();  // a reused id's: set_stat() reuses or frees it
  n = Node{};
  n.set_stat_slot(slot);
  set_name(id, name);
  link_child(parent, id);  // first: a stat without a slot takes its dev from the parent
  set_stat(id, st, stat_known);
  index_insert(id);
  ++live_count_;
  return id;
}

std::uint64_t TreeModel::derived_dev(NodeId id) const {
  // Only directories can be mount points: an entry no one stat'ed is on its directory's
  // device, which the nearest ancestor with a stat of its own holds.
  for (NodeId cur = nodes_[id].parent; cur != kNoNode; cur = nodes_[cur].parent) {
    if (nodes_[cur].stat_slot() != Node::kNoStat) return stats_[nodes_[cur].stat_slot()].dev;
  }
  return 0;
}

sys::FileStat TreeModel::stat(NodeId id) const {
  const Node& n = nodes_[id];
  if (n.stat_slot() != Node::kNoStat) return stats_[n.stat_slot()];
  sys::FileStat st;
  st.type = n.type();
  st.ino = n.holds_children() ? 0 : n.word_;  // only the top node holds children without a slot
  st.dev = derived_dev(id);
  return st;
}

void TreeModel::set_stat(NodeId id, const sys::FileStat& st, bool known) {
  if (st.type == sys::FileType::dir) hold_children(id);
  Node& n = nodes_[id];
  n.set_type(st.type);
  if (!n.holds_children()) n.word_ = static_cast<std::uint32_t>(st.ino);
  n.set_known(known);
  // A known stat keeps a slot even if it looks like a listing's: its dev must not follow the
  // parent's. So does an inode number the node cannot hold (listed.ino then differs), and a
  // node whose word heads its child list.
  if (!known && !n.holds_children()) {
    sys::FileStat listed;
    listed.type = st.type;
    listed.ino = n.word_;
    listed.dev = derived_dev(id);
    if (st == listed) {
      release_stat(n);
      return;
    }
  }
  if (n.stat_slot() == Node::kNoStat) take_stat_slot(n);
  stats_[n.stat_slot()] = st;
}

void TreeModel::set_name(NodeId id, std::string_view name) {
  Node& n = nodes_[id];
  const NameArena::Ref old = n.name_;
  n.name_ = names_.store(name);  // first: `name` may be the old one, or another node's
  names_.release(old);
  if (names_.wants_compaction()) compact_names();
}

void TreeModel::compact_names() {
  // Renames and removals leave holes: without this a long-lived watch on a churning tree
  // would keep every name it ever saw. Amortized: the holes were at least half the arena.
  NameArena fresh;
  fresh.reserve(names_.live_bytes());
  for (Node& n : nodes_) n.name_ = fresh.store(names_.view(n.name_));
  names_ = std::move(fresh);
}

void TreeModel::take_stat_slot(Node& n) {
  if (!free_stats_.empty()) {
    n.set_stat_slot(free_stats_.back());
    free_stats_.pop_back();
    return;
  }
  if (stats_.size() >= Node::kNoStat) throw std::bad_alloc();  // 67M stats: 3.7 GB
  n.set_stat_slot(static_cast<std::uint32_t>(stats_.size()));
  stats_.emplace_back();
}

void TreeModel::release_stat(Node& n) {
  if (n.stat_slot() == Node::kNoStat) return;
  free_stats_.push_back(n.stat_slot());
  n.set_stat_slot(Node::kNoStat);
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
    // The stat stays (its slot too, until the id is reused), as it did when it was inline:
    // a stale id still reads what its node last held.
    n.set_known(false);
    if (n.holds_children()) n.word_ = kNoNode;
    n.next_sibling = kNoNode;
    n.prev_sibling = kFreeSlot;
    names_.release(n.name_);
    n.name_ = {};
    free_.push_back(cur);
    --live_count_;
  }
}

std::optional<std::uint64_t> TreeModel::content_hash(NodeId id) const {
  auto it = hashes_.find(id);
  if (it == hashes_.end() || !valid(id) || stat(id).ctime_ns != it->second.ctime_ns) {
    return std::nullopt;
  }
  return it->second.hash;
}

void TreeModel::set_content_hash(NodeId id, std::uint64_t hash) {
  hashes_[id] = StampedHash{hash, stat(id).ctime_ns};
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
  set_name(id, new_name);
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
  auto sep_after = [](std::string_view name) { return name.empty() || name.back() != '/'; };
  const bool child_sep = child && sep_after(name(id));
  std::size_t len = child ? child->size() + child_sep : 0;
  for (NodeId cur = id; cur != kTopNode && cur != kNoNode; cur = nodes_[cur].parent) {
    const std::string_view n = name(cur);
    len += n.size() + (cur != id && sep_after(n));
  }
  std::string out(len, '\0');
  std::size_t end = len;
  if (child) {
    end -= child->size();
    child->copy(out.data() + end, child->size());
    if (child_sep) out[--end] = '/';
  }
  for (NodeId cur = id; cur != kTopNode && cur != kNoNode; cur = nodes_[cur].parent) {
    const std::string_view n = name(cur);
    if (cur != id && sep_after(n)) out[--end] = '/';
    end -= n.size();
    n.copy(out.data() + end, n.size());
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
    const std::string_view rp = name(r);
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
