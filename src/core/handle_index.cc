#include "core/handle_index.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace lookout::core {

namespace {
// splitmix64's finalizer: every input bit reaches the low bits (positions) and the top ones
// (tags). Node ids are dense small integers, which a table must not take as they are.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Grows by half, not by doubling: RSS at rest is what the tree holds, and doubling leaves up
// to half of a vector unused.
template <class V>
void make_room(V& v, std::size_t extra) {
  if (v.size() + extra <= v.capacity()) return;
  v.reserve(std::max(v.size() + extra, v.capacity() + v.capacity() / 2 + 64));
}

// Slots for `count` entries at most 85% full (linear probing stays short with tags).
std::size_t slots_for(std::size_t count) {
  if (count == 0) return 0;
  std::size_t cap = 16;
  while (count * 20 > cap * 17) cap *= 2;
  return cap;
}
}  // namespace

bool HandleIndex::code(std::string_view key, Coded& out) const {
  out.prefix = kWhole;
  out.rest = key;
  if (prefix_bytes_ != 0 && key.size() >= prefix_bytes_) {
    const std::string_view p = key.substr(0, prefix_bytes_);
    bool found = false;
    for (std::size_t i = 0; i < prefixes_.size(); ++i) {
      if (prefixes_[i] == p) {
        out.prefix = static_cast<std::uint8_t>(i);
        out.rest = key.substr(prefix_bytes_);
        found = true;
        break;
      }
    }
    // A prefix never seen while there was room for it: no key with it was ever stored.
    if (!found && prefixes_.size() < kWhole) return false;
  }
  out.hash = hash_of(out.prefix, out.rest);
  return true;
}

HandleIndex::Coded HandleIndex::code_interning(std::string_view key) {
  Coded k;
  if (!code(key, k)) {
    prefixes_.emplace_back(key.substr(0, prefix_bytes_));
    const bool ok = code(key, k);
    (void)ok;  // the prefix is there now
  }
  return k;
}

std::uint64_t HandleIndex::hash_of(std::uint8_t prefix, std::string_view rest) const {
  const std::uint64_t h = key_hash_ ? key_hash_(rest) : std::hash<std::string_view>()(rest);
  return key_hash_ ? h : mix(h ^ (std::uint64_t{prefix} << 56));
}

std::uint64_t HandleIndex::node_hash(NodeId id) { return mix(std::uint64_t{id} + 1); }

bool HandleIndex::aliases(std::string_view key) const {
  const std::less<const char*> before;  // a total order, even across unrelated buffers
  return !key.empty() && !before(key.data(), bytes_.data()) &&
         before(key.data(), bytes_.data() + bytes_.size());
}

std::size_t HandleIndex::find_key(const Coded& k) const {
  const auto& slots = by_key_.slots;
  if (slots.empty()) return npos;
  const std::size_t mask = slots.size() - 1;
  const std::uint32_t tag = static_cast<std::uint32_t>(k.hash >> 56);
  for (std::size_t pos = k.hash & mask;; pos = (pos + 1) & mask) {
    const std::uint32_t s = slots[pos];
    if (s == 0) return npos;
    if ((s >> kIndexBits) == tag && same_key(entries_[(s & kIndexMask) - 1], k)) return pos;
  }
}

std::size_t HandleIndex::find_node(NodeId id) const {
  const auto& slots = by_node_.slots;
  if (slots.empty()) return npos;
  const std::size_t mask = slots.size() - 1;
  const std::uint64_t hash = node_hash(id);
  const std::uint32_t tag = static_cast<std::uint32_t>(hash >> 56);
  for (std::size_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const std::uint32_t s = slots[pos];
    if (s == 0) return npos;
    if ((s >> kIndexBits) == tag && entries_[(s & kIndexMask) - 1].node == id) return pos;
  }
}

std::size_t HandleIndex::find_slot_of(const Table& t, std::uint64_t hash, std::uint32_t e) const {
  const std::size_t mask = t.slots.size() - 1;
  for (std::size_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const std::uint32_t s = t.slots[pos];
    if (s == 0) return npos;
    if ((s & kIndexMask) == e + 1) return pos;
  }
}

void HandleIndex::insert_slot(Table& t, std::uint64_t hash, std::uint32_t e, bool keys) {
  if ((t.count + 1) * 20 > t.slots.size() * 17) grow(t, keys);
  const std::size_t mask = t.slots.size() - 1;
  std::size_t pos = hash & mask;
  while (t.slots[pos] != 0) pos = (pos + 1) & mask;
  t.slots[pos] = static_cast<std::uint32_t>(hash >> 56) << kIndexBits | (e + 1);
  ++t.count;
}

void HandleIndex::erase_slot(Table& t, std::size_t pos, bool keys) {
  // Backward shift: each later slot of the run moves up unless its home lies after the
  // hole, so no probe ever stops short at the gap (no tombstones to rehash away).
  const std::size_t mask = t.slots.size() - 1;
  std::size_t hole = pos;
  t.slots[hole] = 0;
  for (std::size_t j = (pos + 1) & mask;; j = (j + 1) & mask) {
    const std::uint32_t s = t.slots[j];
    if (s == 0) break;
    const std::uint32_t e = (s & kIndexMask) - 1;
    const std::size_t home = (keys ? entry_key_hash(e) : node_hash(entries_[e].node)) & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      t.slots[hole] = s;
      t.slots[j] = 0;
      hole = j;
    }
  }
  --t.count;
}

void HandleIndex::grow(Table& t, bool keys) {
  std::vector<std::uint32_t> old;
  old.swap(t.slots);
  t.slots.assign(old.empty() ? 16 : old.size() * 2, 0);
  t.count = 0;
  for (std::uint32_t s : old) {
    if (s == 0) continue;
    const std::uint32_t e = (s & kIndexMask) - 1;
    insert_slot(t, keys ? entry_key_hash(e) : node_hash(entries_[e].node), e, keys);
  }
}

std::uint32_t HandleIndex::new_entry(NodeId id, const Coded& k) {
  if (k.rest.size() > 0xffff) throw std::length_error("HandleIndex: key longer than 64 KiB");
  if (bytes_.size() + k.rest.size() > 0xffffffffu) {
    throw std::length_error("HandleIndex: more than 4 GiB of keys");
  }
  const Entry entry{id, static_cast<std::uint32_t>(bytes_.size()),
                    static_cast<std::uint16_t>(k.rest.size()), k.prefix, 0};
  make_room(bytes_, k.rest.size());
  bytes_.insert(bytes_.end(), k.rest.begin(), k.rest.end());
  if (free_head_ != kNoNode) {
    const std::uint32_t e = free_head_;
    free_head_ = entries_[e].node;
    --free_count_;
    entries_[e] = entry;
    return e;
  }
  if (entries_.size() >= kIndexMask) {
    throw std::length_error("HandleIndex: more than 16 M keys");
  }
  make_room(entries_, 1);
  entries_.push_back(entry);
  return static_cast<std::uint32_t>(entries_.size() - 1);
}

void HandleIndex::free_entry(std::uint32_t e) {
  dead_bytes_ += entries_[e].len;
  entries_[e].flags = kFree;
  entries_[e].node = free_head_;
  free_head_ = e;
  ++free_count_;
}

void HandleIndex::unhold_at(std::size_t pos) {
  const std::uint32_t e = (by_key_.slots[pos] & kIndexMask) - 1;
  erase_slot(by_key_, pos, true);
  entries_[e].flags &= static_cast<std::uint8_t>(~kHolds);
  if (entries_[e].node == kNoNode) {
    --outside_;
    free_entry(e);
  }
}

std::optional<NodeId> HandleIndex::holder(std::string_view key) const {
  Coded k;
  if (!code(key, k)) return std::nullopt;
  const std::size_t pos = find_key(k);
  if (pos == npos) return std::nullopt;
  return entries_[(by_key_.slots[pos] & kIndexMask) - 1].node;
}

bool HandleIndex::has_key(NodeId id, std::string_view key) const {
  const std::size_t pos = find_node(id);
  Coded k;
  return pos != npos && code(key, k) &&
         same_key(entries_[(by_node_.slots[pos] & kIndexMask) - 1], k);
}

std::optional<std::string> HandleIndex::key_of(NodeId id) const {
  const std::size_t pos = find_node(id);
  if (pos == npos) return std::nullopt;
  const Entry& e = entries_[(by_node_.slots[pos] & kIndexMask) - 1];
  std::string key;
  if (e.prefix != kWhole) key = prefixes_[e.prefix];
  key.append(rest_of(e));
  return key;
}

void HandleIndex::assign(NodeId id, std::string_view key, bool hold) {
  if (aliases(key)) {
    const std::string copy(key);  // its bytes may move while a key is added
    assign(id, copy, hold);
    return;
  }
  const Coded k = code_interning(key);
  std::uint32_t e = kNoNode;
  if (const std::size_t np = find_node(id); np != npos) {
    e = (by_node_.slots[np] & kIndexMask) - 1;
    if (!same_key(entries_[e], k)) {
      // Its old key: dropped, and held by no one if it held it.
      if (entries_[e].flags & kHolds) {
        erase_slot(by_key_, find_slot_of(by_key_, entry_key_hash(e), e), true);
      }
      erase_slot(by_node_, find_node(id), false);
      --node_count_;
      free_entry(e);
      e = kNoNode;
    }
  }
  if (e == kNoNode) {
    e = new_entry(id, k);
    insert_slot(by_node_, node_hash(id), e, false);
    ++node_count_;
  }
  if (hold && !(entries_[e].flags & kHolds)) {
    if (const std::size_t kp = find_key(k); kp != npos) unhold_at(kp);
    insert_slot(by_key_, k.hash, e, true);
    entries_[e].flags |= kHolds;
  }
  maybe_compact();
}

void HandleIndex::hold(NodeId id) {
  const std::size_t np = find_node(id);
  if (np == npos) return;
  const std::uint32_t e = (by_node_.slots[np] & kIndexMask) - 1;
  if (entries_[e].flags & kHolds) return;
  Coded k;
  k.prefix = entries_[e].prefix;
  k.rest = rest_of(entries_[e]);  // no key is added below: bytes_ stays put
  k.hash = entry_key_hash(e);
  if (const std::size_t kp = find_key(k); kp != npos) unhold_at(kp);
  insert_slot(by_key_, k.hash, e, true);
  entries_[e].flags |= kHolds;
  maybe_compact();
}

void HandleIndex::release(std::string_view key) {
  Coded k;
  if (!code(key, k)) return;
  if (const std::size_t kp = find_key(k); kp != npos) {
    unhold_at(kp);
    maybe_compact();
  }
}

void HandleIndex::erase(NodeId id) {
  const std::size_t np = find_node(id);
  if (np == npos) return;
  const std::uint32_t e = (by_node_.slots[np] & kIndexMask) - 1;
  if (entries_[e].flags & kHolds) {
    erase_slot(by_key_, find_slot_of(by_key_, entry_key_hash(e), e), true);
  }
  erase_slot(by_node_, np, false);
  --node_count_;
  free_entry(e);
  maybe_compact();
}

void HandleIndex::mark_outside(std::string_view key) {
  if (aliases(key)) {
    const std::string copy(key);
    mark_outside(copy);
    return;
  }
  const Coded k = code_interning(key);
  if (const std::size_t kp = find_key(k); kp != npos) {
    if (entries_[(by_key_.slots[kp] & kIndexMask) - 1].node == kNoNode) return;
    unhold_at(kp);
  }
  const std::uint32_t e = new_entry(kNoNode, k);
  insert_slot(by_key_, k.hash, e, true);
  entries_[e].flags = kHolds;
  ++outside_;
  maybe_compact();
}

void HandleIndex::forget_outside() {
  if (outside_ == 0) return;
  for (std::uint32_t e = 0; e < entries_.size(); ++e) {
    if (!(entries_[e].flags & kFree) && entries_[e].node == kNoNode) {
      entries_[e].flags = kFree;  // rebuild() leaves it out; no table is read before
      dead_bytes_ += entries_[e].len;
    }
  }
  outside_ = 0;
  rebuild();
}

void HandleIndex::maybe_compact() {
  const std::size_t live_entries = entries_.size() - free_count_;
  const std::size_t live_bytes = bytes_.size() - dead_bytes_;
  if ((free_count_ > 1024 && free_count_ > live_entries) ||
      (dead_bytes_ > 4096 && dead_bytes_ > live_bytes)) {
    rebuild();
  }
}

void HandleIndex::rebuild() {
  // Entries are renumbered: the tables are refilled from the entries' own flags.
  std::vector<Entry> entries;
  std::vector<char> bytes;
  std::size_t live = 0, live_bytes = 0;
  for (const Entry& e : entries_) {
    if (e.flags & kFree) continue;
    ++live;
    live_bytes += e.len;
  }
  entries.reserve(live);
  bytes.reserve(live_bytes);
  std::size_t holders = 0;
  for (const Entry& e : entries_) {
    if (e.flags & kFree) continue;
    Entry moved = e;
    moved.off = static_cast<std::uint32_t>(bytes.size());
    bytes.insert(bytes.end(), bytes_.begin() + e.off, bytes_.begin() + e.off + e.len);
    entries.push_back(moved);
    if (e.flags & kHolds) ++holders;
  }
  entries_.swap(entries);
  bytes_.swap(bytes);
  free_head_ = kNoNode;
  free_count_ = 0;
  dead_bytes_ = 0;
  by_key_ = Table{std::vector<std::uint32_t>(slots_for(holders), 0), 0};
  by_node_ = Table{std::vector<std::uint32_t>(slots_for(node_count_), 0), 0};
  for (std::uint32_t e = 0; e < entries_.size(); ++e) {
    if (entries_[e].flags & kHolds) insert_slot(by_key_, entry_key_hash(e), e, true);
    if (entries_[e].node != kNoNode) insert_slot(by_node_, node_hash(entries_[e].node), e, false);
  }
}

std::size_t HandleIndex::memory_bytes() const {
  std::size_t n = entries_.capacity() * sizeof(Entry) + bytes_.capacity() +
                  (by_key_.slots.capacity() + by_node_.slots.capacity()) * sizeof(std::uint32_t);
  for (const std::string& p : prefixes_) n += sizeof p + p.capacity();
  return n;
}

}  // namespace lookout::core
