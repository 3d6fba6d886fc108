// HandleIndex: fanotify's directory keys (backend::FanEvent: fsid + handle type + handle
// bytes) and the nodes they stand for, both ways, for FanotifyTranslator. Every key's bytes sit
// in one arena, its leading bytes shared by a whole filesystem (`prefix_bytes`) stored once
// per filesystem; an entry is 12 bytes (node, offset, length, prefix); two open-addressed
// tables of 4-byte slots find an entry by key and by node. About 40 bytes a directory where
// two std::unordered_maps of std::string took some 200. Room for 16 M entries and 4 GiB of
// key bytes (std::length_error past them). Owned by one translator; loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tree_model.h"

namespace lookout::core {

// Two relations share the entries. A node has at most one key (key_of); a key has at most
// one holder (holder): a node whose own key it is, or kNoNode for a key known to be outside
// every root (an "outside mark", the translator's bounded negative cache). Several nodes may
// have one key while one of them holds it (two nodes for one directory, while records are
// behind a listing: see FanotifyTranslator::map_key).
class HandleIndex {
 public:
  // `prefix_bytes`: keys at least this long share their first `prefix_bytes` bytes with
  // many others (fanotify: the fsid and the handle type), stored once per distinct prefix
  // (up to 255 of them; keys with a prefix past those are stored whole). 0: keys stored whole.
  // `key_hash`: for tests (keys that all hash alike); null: std::hash.
  using KeyHash = std::uint64_t (*)(std::string_view);
  explicit HandleIndex(std::size_t prefix_bytes = 0, KeyHash key_hash = nullptr)
      : prefix_bytes_(prefix_bytes), key_hash_(key_hash) {}

  // The node holding `key` (kNoNode: outside), nullopt when no one holds it.
  std::optional<NodeId> holder(std::string_view key) const;
  bool has_key(NodeId id) const { return find_node(id) != npos; }
  // `id`'s key is `key`.
  bool has_key(NodeId id, std::string_view key) const;
  // A copy of `id`'s key (its bytes are not contiguous when its prefix is shared), nullopt
  // when it has none.
  std::optional<std::string> key_of(NodeId id) const;

  // `id`'s key becomes `key`; the key it had before, if it held it, is held by no one after.
  // `hold`: `id` holds `key` too; the node that held it keeps it as its key (without holding
  // it), an outside mark is dropped. REQUIRES: id != kNoNode, key shorter than 64 KiB.
  void assign(NodeId id, std::string_view key, bool hold);
  // `id` holds its own key, as assign(id, *key_of(id), true) would. No-op without a key.
  void hold(NodeId id);
  // `key` is held by no one: a node holding it keeps it as its key; an outside mark goes.
  void release(std::string_view key);
  // `id` has no key any more (and so holds none).
  void erase(NodeId id);
  // `key` is outside every root: held by no node (one that held it keeps it as its key).
  void mark_outside(std::string_view key);
  // Drops every outside mark (and gives their memory back).
  void forget_outside();
  std::size_t outside_count() const { return outside_; }
  // Nodes with a key.
  std::size_t node_count() const { return node_count_; }
  // Bytes held (capacity, not size): entries, key bytes, prefixes and both tables.
  std::size_t memory_bytes() const;

 private:
  static constexpr std::uint8_t kWhole = 0xff;  // Entry::prefix: the whole key in bytes_
  static constexpr std::uint8_t kHolds = 1;     // Entry::flags: in the key table
  static constexpr std::uint8_t kFree = 2;      // Entry::flags: on the free list (next: node)
  struct Entry {
    NodeId node;        // kNoNode: an outside mark
    std::uint32_t off;  // the key's bytes after its prefix, in bytes_
    std::uint16_t len;
    std::uint8_t prefix;  // index in prefixes_, or kWhole
    std::uint8_t flags;
  };
  static_assert(sizeof(Entry) == 12);
  // A key as stored: its prefix's index (or kWhole) and the rest.
  struct Coded {
    std::uint8_t prefix = kWhole;
    std::string_view rest;
    std::uint64_t hash = 0;
  };
  // A slot: 0 empty, else the entry's index + 1 in the low 24 bits and 8 bits of the hash
  // above them, so most probes that miss never touch an entry.
  static constexpr unsigned kIndexBits = 24;
  static constexpr std::uint32_t kIndexMask = (1u << kIndexBits) - 1;
  struct Table {
    std::vector<std::uint32_t> slots;  // size 0 or a power of two
    std::size_t count = 0;
  };

  // False when `key` cannot be stored here (its prefix was never seen): then it is unknown.
  bool code(std::string_view key, Coded& out) const;
  Coded code_interning(std::string_view key);
  std::uint64_t hash_of(std::uint8_t prefix, std::string_view rest) const;
  static std::uint64_t node_hash(NodeId id);
  std::uint64_t entry_key_hash(std::uint32_t e) const {
    return hash_of(entries_[e].prefix, rest_of(entries_[e]));
  }
  std::string_view rest_of(const Entry& e) const { return {bytes_.data() + e.off, e.len}; }
  bool same_key(const Entry& e, const Coded& k) const {
    return e.prefix == k.prefix && rest_of(e) == k.rest;
  }
  // `key` lies in bytes_ (which may move when a key is added).
  bool aliases(std::string_view key) const;

  // Positions in a table, npos when absent.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t find_key(const Coded& k) const;
  std::size_t find_node(NodeId id) const;
  std::size_t find_slot_of(const Table& t, std::uint64_t hash, std::uint32_t e) const;
  void insert_slot(Table& t, std::uint64_t hash, std::uint32_t e, bool keys);
  void erase_slot(Table& t, std::size_t pos, bool keys);
  void grow(Table& t, bool keys);

  std::uint32_t new_entry(NodeId id, const Coded& k);
  void free_entry(std::uint32_t e);
  // Takes the holder entry at key-table position `pos` out of the key table: a node's entry
  // stays its key, an outside mark is freed.
  void unhold_at(std::size_t pos);
  // Rewrites entries, bytes and tables without holes when holes outweigh what is live.
  void maybe_compact();
  void rebuild();

  std::size_t prefix_bytes_;
  KeyHash key_hash_;
  std::vector<std::string> prefixes_;
  std::vector<Entry> entries_;
  std::uint32_t free_head_ = kNoNode;  // first free entry, chained through Entry::node
  std::size_t free_count_ = 0;
  std::vector<char> bytes_;
  std::size_t dead_bytes_ = 0;
  Table by_key_;   // holders and outside marks
  Table by_node_;  // every entry of a node
  std::size_t node_count_ = 0;
  std::size_t outside_ = 0;
};

}  // namespace lookout::core
