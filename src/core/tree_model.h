// TreeModel: the in-memory picture of the watched trees, one node per directory entry.
// Paths are never stored: they are derived by walking parent links, so renaming a directory
// renames every descendant at once (no wd->path map that can go stale). Names are bytes.
// Several roots hang under one invisible top node; a root's name is its absolute path.
// Owned by one thread (the watcher's loop); not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/name_arena.h"
#include "sys/file_stat.h"

namespace lookout::core {

using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = 0xffffffffu;
inline constexpr NodeId kTopNode = 0;

struct Node {
  NodeId parent = kNoNode;
  NodeId next_sibling = kNoNode;
  NodeId prev_sibling = kNoNode;
  sys::FileType type() const { return static_cast<sys::FileType>((meta_ >> kTypeShift) & kTypeMask); }
  bool is_dir() const { return type() == sys::FileType::dir; }
  // The first entry of a directory (kNoNode: none, or not a directory).
  NodeId first_child() const { return holds_children() ? word_ : kNoNode; }

 private:
  friend class TreeModel;
  // The rest of the stat is TreeModel::stat(id): the node holds what a listing gives (type
  // and d_ino) and a slot in the model's stat table for anything more. The slot, the type,
  // whether the stat is known and whether `word_` heads a child list share one word: 26 bits
  // of slot (67M stat'ed entries, 3.7 GB of stats), 4 of type, 1 each for the two flags.
  static constexpr std::uint32_t kNoStat = (1u << 26) - 1;
  static constexpr unsigned kTypeShift = 26;
  static constexpr std::uint32_t kTypeMask = 0xf;
  static constexpr std::uint32_t kChildrenBit = 1u << 30;
  static constexpr std::uint32_t kKnownBit = 1u << 31;
  std::uint32_t stat_slot() const { return meta_ & kNoStat; }
  void set_stat_slot(std::uint32_t slot) { meta_ = (meta_ & ~kNoStat) | slot; }
  void set_type(sys::FileType t) {
    meta_ = (meta_ & ~(kTypeMask << kTypeShift)) | (static_cast<std::uint32_t>(t) << kTypeShift);
  }
  bool known() const { return (meta_ & kKnownBit) != 0; }
  void set_known(bool k) { meta_ = k ? (meta_ | kKnownBit) : (meta_ & ~kKnownBit); }
  bool holds_children() const { return (meta_ & kChildrenBit) != 0; }

  NameArena::Ref name_;  // TreeModel::name(id)
  std::uint32_t meta_ = kNoStat;  // type unknown (0), stat not known, no child list
  // A file's d_ino (its low half: an inode number past 32 bits takes a stat slot), or a
  // directory's first child (holds_children(): its inode number is in its stat slot, which
  // a directory always has). One word for the two: 10 of 11 entries of a tree are files,
  // which have no children, and a directory's stat is read anyway. Every field is 4 bytes
  // and the node 24.
  std::uint32_t word_ = 0;
};
static_assert(static_cast<std::uint32_t>(sys::FileType::other) <= 0xf, "FileType fits Node's 4 type bits");
// One per directory entry (550k at the largest benchmark tree): what a mechanism needs per
// node (inotify's wd, fanotify's key) lives in its own side table, and so do the full stat
// (56 bytes), which only entries that were stat'ed need (a first crawl stats directories
// only, so 10 of 11 nodes are files that hold just the type and inode of their listing),
// and the name's bytes (an arena: its length plus one, not a 32-byte std::string; the NUL
// ends it, so the node holds only its offset).
static_assert(sizeof(Node) <= 24, "Node grew: see docs/design.md Tree model");

class TreeModel {
 public:
  TreeModel();

  // Adds a root (absolute path, no trailing slash except "/") under the top node.
  NodeId add_root(std::string_view abs_path, const sys::FileStat& st);
  // Adds `name` under `parent`; if it exists already, returns the existing node unchanged.
  NodeId add(NodeId parent, std::string_view name, const sys::FileStat& st, bool stat_known);
  // add() for a name known to be absent (a listing of a directory that had no children):
  // skips the lookup, which is a third of the initial crawl's own CPU.
  NodeId add_new(NodeId parent, std::string_view name, const sys::FileStat& st, bool stat_known);
  NodeId find(NodeId parent, std::string_view name) const;
  // Resolves an absolute path through the roots; kNoNode when absent.
  NodeId find_path(std::string_view abs_path) const;

  // Removes `id` and its subtree, calling the remove hook for each node, children first.
  void remove(NodeId id);
  // Moves `id` under `new_parent` as `new_name`; an occupant of that name is removed first.
  // Refuses (returns false) to move a directory into its own subtree: only a stale model
  // can ask for that, and obeying would make a cycle.
  bool move(NodeId id, NodeId new_parent, std::string_view new_name);
  // How many moves were made: a path that did not resolve can only start to after one.
  std::uint64_t moves() const { return moves_; }
  // How many removals were made (an id may now name another node).
  std::uint64_t removals() const { return removals_; }

  std::string path(NodeId id) const;
  // Path of `name` inside directory `dir` without adding it.
  std::string child_path(NodeId dir, std::string_view name) const;
  bool is_root(NodeId id) const { return id != kTopNode && node(id).parent == kTopNode; }
  NodeId root_of(NodeId id) const;
  bool is_ancestor(NodeId ancestor, NodeId id) const;

  Node& node(NodeId id) { return nodes_[id]; }
  const Node& node(NodeId id) const { return nodes_[id]; }
  bool valid(NodeId id) const { return id < nodes_.size() && nodes_[id].prev_sibling != kFreeSlot; }
  // Whether stat(id) was read from the inode (else it holds only the type and inode of a
  // listing, and the dev of the directory: see tree_scanner.h).
  bool stat_known(NodeId id) const { return nodes_[id].known(); }
  void set_stat_known(NodeId id, bool known) { nodes_[id].set_known(known); }
  // The node's stat, by value: the table behind it moves when another node gets one. Without
  // a slot, {type, ino, dev of the parent directory} (only directories can be mount points).
  sys::FileStat stat(NodeId id) const;
  // stat(id) when it was read from the inode, else none (what an event carries).
  std::optional<sys::FileStat> known_stat(NodeId id) const {
    return stat_known(id) ? std::optional<sys::FileStat>(stat(id)) : std::nullopt;
  }
  sys::FileType type(NodeId id) const { return nodes_[id].type(); }
  // Replaces the node's stat and says whether it is known; a stat that holds no more than
  // stat() would derive takes no slot.
  void set_stat(NodeId id, const sys::FileStat& st, bool known = true);
  // Stat table slots in use (nodes whose stat holds more than a listing gives).
  std::size_t stat_count() const { return stats_.size() - free_stats_.size(); }
  std::size_t size() const { return live_count_; }
  // The entry's name (a root's: its absolute path). Valid until the model next adds or
  // moves a node (the arena may move then, as the node table may). c_name(): the same,
  // NUL-terminated for a syscall, in `buf` (or in place): valid as long as both.
  std::string_view name(NodeId id) const { return names_.view(nodes_[id].name_); }
  using CName = NameArena::CName;
  const char* c_name(NodeId id, CName& buf) const { return names_.c_str(nodes_[id].name_, buf); }

  // Calls f(child) for each child of `dir`. f may not add or remove nodes.
  template <typename F>
  void for_each_child(NodeId dir, F&& f) const {
    for (NodeId c = nodes_[dir].first_child(); c != kNoNode; c = nodes_[c].next_sibling) f(c);
  }
  std::vector<NodeId> children(NodeId dir) const;
  // Calls f(id) for every live node, in no particular order. f may not add or remove nodes.
  template <typename F>
  void for_each_node(F&& f) const {
    for (NodeId id = 1; id < nodes_.size(); ++id) {
      if (nodes_[id].prev_sibling != kFreeSlot) f(id);
    }
  }
  // Post-order (children before parents) list of the subtree at `id`, `id` last.
  std::vector<NodeId> subtree_post_order(NodeId id) const;

  // --checksum only: the content hash of a regular file, valid while the node's ctime is the
  // one it had when the hash was set (every write moves ctime, and nothing can set it back).
  // A side table, so a model without --checksum pays nothing per node; removing a node drops
  // its entry, moving it keeps it.
  std::optional<std::uint64_t> content_hash(NodeId id) const;
  void set_content_hash(NodeId id, std::uint64_t hash);
  std::size_t content_hash_count() const { return hashes_.size(); }

  // After a crawl: rebuilds the (parent, name) index at 7/5 slots an entry. Grown a step at a
  // time while the crawl added entries, it holds up to 2 (8 bytes an entry, every slot
  // touched); a table this full is rebuilt at twice its entries at the next growth anyway.
  void shrink_index();

  // Called for every node just before it is removed (by remove() or move()'s replacement).
  void set_remove_hook(std::function<void(NodeId, const Node&)> hook) { remove_hook_ = std::move(hook); }

 private:
  std::size_t hash_of(NodeId parent, std::string_view name) const;
  // path(id), and `*child` appended as an entry of it when given.
  std::string build_path(NodeId id, const std::string_view* child) const;
  void index_insert(NodeId id);
  void index_erase(NodeId id);
  std::size_t home_slot(std::size_t hash) const;
  void index_rebuild(std::size_t slots, NodeId skip);
  void index_place(NodeId id);  // index_insert() without the growth check
  void link_child(NodeId parent, NodeId id);
  void unlink_child(NodeId id);
  // `id`'s word_ becomes the head of a child list (empty), its inode number moving into a
  // stat slot: a directory from its first stat on, anything else given a child.
  void hold_children(NodeId id);
  NodeId allocate();
  std::uint64_t derived_dev(NodeId id) const;
  void release_stat(Node& n);
  // Gives `n` a slot in the stat table (a freed one first); the caller fills it.
  void take_stat_slot(Node& n);
  void set_name(NodeId id, std::string_view name);
  void compact_names();

  // A free slot's prev_sibling (never a link: free slots are in no list). Not its parent,
  // which a stale id's path() may still walk.
  static constexpr NodeId kFreeSlot = 0xfffffffeu;
  std::vector<Node> nodes_;
  // Full stats by Node::stat_slot(), with the slots freed for reuse.
  std::vector<sys::FileStat> stats_;
  std::vector<std::uint32_t> free_stats_;
  NameArena names_;
  std::vector<NodeId> free_;
  std::size_t live_count_ = 0;
  // Open-addressed (parent, name) -> id index (tree_model.cc: 4 bits of hash above each id).
  // kNoNode = empty, kTombstone = erased.
  std::vector<NodeId> slots_;
  std::size_t used_slots_ = 0;  // live + tombstones
  std::function<void(NodeId, const Node&)> remove_hook_;
  struct StampedHash {
    std::uint64_t hash;
    std::int64_t ctime_ns;  // the node's ctime when the hash was taken
  };
  std::unordered_map<NodeId, StampedHash> hashes_;
  std::uint64_t moves_ = 0;
  std::uint64_t removals_ = 0;
};

}  // namespace lookout::core
