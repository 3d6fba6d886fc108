#include "core/tree_diff.h"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lookout::core {

namespace {

bool same_inode(const sys::FileStat& a, const sys::FileStat& b) {
  return a.type == b.type && a.ino == b.ino && a.dev == b.dev;
}

// Whether a and b are one file system object (so a changed name is a rename and an unchanged
// one a modification, not delete+create). ext4 hands a freed inode number to the next new
// file at once (docs/kernel-facts.md#ext4-reuses-inode-numbers), so the inode number needs its
// birth stamp (btime or generation, see sys::BirthKind). Only without one on both sides does a file
// fall back to size+mtime as its stamp: that misses a rename of a file written in between
// (delete+create instead), but never calls two files one. A directory without a birth stamp keeps
// (dev, ino) alone: a reused number there is rare and its contents are diffed anyway.
bool same_object(const sys::FileStat& a, const sys::FileStat& b) {
  if (!same_inode(a, b)) return false;
  if (sys::births_comparable(a, b)) return a.birth == b.birth;
  if (a.type == sys::FileType::dir) return true;
  return a.size == b.size && a.mtime_ns == b.mtime_ns;
}

// The same check for an entry found under the same name on both sides: there a changed size
// or mtime is a write to the file, not a sign of another one.
bool same_name_object(const sys::FileStat& a, const sys::FileStat& b) {
  if (!same_inode(a, b)) return false;
  return !sys::births_comparable(a, b) || a.birth == b.birth;
}

struct Reconciler {
  TreeModel& live;
  const TreeModel& fresh;
  const DiffSink& sink;
  DiffStats stats;

  std::vector<std::pair<NodeId, NodeId>> work;  // matched (live dir, fresh dir) pairs
  std::vector<NodeId> removed;                  // live nodes with no match in fresh
  std::vector<std::pair<NodeId, NodeId>> added; // (live parent, fresh node) with no match
  std::unordered_map<NodeId, NodeId> fresh_to_live;  // matched directories

  void emit(EventKind k, NodeId id, const std::string& from = {}) {
    if (sink.event) sink.event(k, live.path(id), from, live.node(id).is_dir());
  }

  // renamed: `l` was just reported renamed. rename(2) itself moves the ctime on ext4 and
  // btrfs, which inotify does not report as ATTRIB: nor do we, unless the mode changed too.
  void compare_entry(NodeId l, NodeId f, bool renamed = false) {
    const sys::FileStat ls = live.stat(l);
    const sys::FileStat fs = fresh.stat(f);
    if (ls.type == sys::FileType::dir) {
      // The stat is taken, its known flag left as it was.
      live.set_stat(l, fs, live.stat_known(l));
      if (ls.mode != fs.mode) {
        ++stats.modified;
        emit(EventKind::attrib, l);
      }
      work.emplace_back(l, f);
      return;
    }
    // --checksum: both sides hashed (see content_scan.h) and the contents differ, although
    // size and mtime may not. Read before l's stat changes: the live hash is valid for its ctime.
    std::optional<std::uint64_t> fresh_hash = fresh.content_hash(f);
    std::optional<std::uint64_t> live_hash = fresh_hash ? live.content_hash(l) : std::nullopt;
    bool content_changed = fresh_hash && live_hash && *fresh_hash != *live_hash;
    EventKind kind;
    if (ls.size != fs.size || ls.mtime_ns != fs.mtime_ns || content_changed) {
      kind = EventKind::modify;
    } else if ((!renamed && ls.ctime_ns != fs.ctime_ns) || ls.mode != fs.mode) {
      kind = EventKind::attrib;
    } else {
      live.set_stat(l, fs);  // a rename's ctime: recorded, so the next pass does not report it
      if (fresh_hash) live.set_content_hash(l, *fresh_hash);
      return;
    }
    live.set_stat(l, fs);
    if (fresh_hash) live.set_content_hash(l, *fresh_hash);
    ++stats.modified;
    emit(kind, l);
  }

  // A live entry that never had a stat takes the scanned one; its stamps say whether it
  // may have changed since the model last looked.
  void adopt_unstat(NodeId l, NodeId f) {
    const sys::FileStat fs = fresh.stat(f);
    live.set_stat(l, fs, fresh.stat_known(f));
    if (auto h = fresh.content_hash(f)) live.set_content_hash(l, *h);
    if (fs.type == sys::FileType::dir) {
      work.emplace_back(l, f);
    } else if (fresh.stat_known(f) && std::max(fs.ctime_ns, fs.mtime_ns) >= sink.unstat_since_ns) {
      ++stats.modified;
      emit(EventKind::modify, l);
    }
  }

  void compare_dirs() {
    while (!work.empty()) {
      auto [l, f] = work.back();
      work.pop_back();
      fresh_to_live[f] = l;
      std::unordered_set<NodeId> seen;
      fresh.for_each_child(f, [&](NodeId fc) {
        NodeId lc = live.find(l, fresh.name(fc));
        if (lc == kNoNode) {
          added.emplace_back(l, fc);
        } else if (!live.stat_known(lc) &&
                   live.type(lc) == fresh.type(fc)) {
          seen.insert(lc);
          adopt_unstat(lc, fc);
        } else if (!same_name_object(live.stat(lc), fresh.stat(fc))) {
          removed.push_back(lc);
          added.emplace_back(l, fc);
          seen.insert(lc);
        } else {
          seen.insert(lc);
          compare_entry(lc, fc);
        }
      });
      live.for_each_child(l, [&](NodeId lc) {
        if (!seen.count(lc)) removed.push_back(lc);
      });
    }
  }

  // Applies renames that are safe to apply now; returns how many were applied.
  std::size_t apply_renames(std::unordered_set<NodeId>& removed_set,
                            std::vector<std::pair<NodeId, NodeId>>& candidates) {
    std::size_t applied = 0;
    std::vector<std::pair<NodeId, NodeId>> still;
    std::unordered_set<NodeId> pending_sources;
    for (auto& [l, f] : candidates) pending_sources.insert(l);
    for (auto& [l, f] : candidates) {
      auto parent_it = fresh_to_live.find(fresh.node(f).parent);
      if (parent_it == fresh_to_live.end() || !live.valid(l)) {
        still.emplace_back(l, f);
        continue;
      }
      NodeId dest_parent = parent_it->second;
      // Never move a directory into its own subtree (can happen only with stale pairs).
      if (live.node(l).is_dir() && live.is_ancestor(l, dest_parent)) {
        still.emplace_back(l, f);
        continue;
      }
      const std::string_view name = fresh.name(f);  // another model's: live may change
      NodeId occupant = live.find(dest_parent, name);
      if (occupant != kNoNode && occupant != l) {
        bool removable = removed_set.count(occupant) && !pending_sources.count(occupant) &&
                         live.node(occupant).first_child() == kNoNode;
        if (!removable) {
          still.emplace_back(l, f);
          continue;
        }
        // rename(2) over an existing entry replaces it: the event says so by itself.
        removed_set.erase(occupant);
      }
      std::string from = live.path(l);
      live.move(l, dest_parent, name);
      removed_set.erase(l);
      pending_sources.erase(l);
      ++stats.renamed;
      emit(EventKind::rename, l, from);
      if (live.node(l).is_dir()) {
        if (sink.dir_added) sink.dir_added(l);
        work.emplace_back(l, f);
      } else {
        compare_entry(l, f, true);
      }
      ++applied;
    }
    candidates.swap(still);
    return applied;
  }

  void create_subtree(NodeId live_parent, NodeId f) {
    std::vector<std::pair<NodeId, NodeId>> stack{{live_parent, f}};
    while (!stack.empty()) {
      auto [lp, fc] = stack.back();
      stack.pop_back();
      const Node& fn = fresh.node(fc);
      NodeId id = live.add(lp, fresh.name(fc), fresh.stat(fc), true);
      if (auto h = fresh.content_hash(fc)) live.set_content_hash(id, *h);
      ++stats.created;
      emit(EventKind::create, id);
      if (fn.is_dir()) {
        if (sink.dir_added) sink.dir_added(id);
        if (!sink.shallow_new_dirs) fresh.for_each_child(fc, [&](NodeId c) { stack.emplace_back(id, c); });
      }
    }
  }

  void remove_subtree(NodeId id) {
    if (!live.valid(id)) return;
    for (NodeId n : live.subtree_post_order(id)) {
      ++stats.removed;
      emit(EventKind::remove, n);
    }
    live.remove(id);
  }

  void run(NodeId l, NodeId f) {
    work.emplace_back(l, f);
    std::unordered_set<NodeId> removed_set;
    std::vector<std::pair<NodeId, NodeId>> candidates;
    std::vector<std::pair<NodeId, NodeId>> plain_added;
    for (;;) {
      compare_dirs();
      for (NodeId r : removed) removed_set.insert(r);
      removed.clear();
      // Pair what vanished with what appeared, by identity.
      std::unordered_map<std::uint64_t, std::vector<NodeId>> by_ino;
      for (NodeId r : removed_set) {
        if (live.valid(r)) by_ino[live.stat(r).ino].push_back(r);
      }
      std::unordered_set<NodeId> claimed;
      for (auto& c : candidates) claimed.insert(c.first);
      for (auto& [lp, fc] : added) {
        NodeId match = kNoNode;
        if (auto it = by_ino.find(fresh.stat(fc).ino); it != by_ino.end()) {
          for (NodeId r : it->second) {
            if (!claimed.count(r) && same_object(live.stat(r), fresh.stat(fc))) {
              match = r;
              break;
            }
          }
        }
        if (match != kNoNode) {
          claimed.insert(match);
          candidates.emplace_back(match, fc);
        } else {
          plain_added.emplace_back(lp, fc);
        }
      }
      added.clear();
      if (apply_renames(removed_set, candidates) == 0 && work.empty()) break;
    }
    // Renames that could not be applied safely become delete + create.
    for (auto& [l2, f2] : candidates) {
      auto parent_it = fresh_to_live.find(fresh.node(f2).parent);
      if (parent_it != fresh_to_live.end()) plain_added.emplace_back(parent_it->second, f2);
      // else: its parent is itself created below, which creates this entry too
    }
    for (NodeId r : removed_set) remove_subtree(r);
    for (auto& [lp, fc] : plain_added) {
      if (live.valid(lp) && live.find(lp, fresh.name(fc)) == kNoNode) create_subtree(lp, fc);
    }
  }
};

}  // namespace

DiffStats reconcile(TreeModel& live, NodeId live_dir, const TreeModel& fresh, NodeId fresh_dir,
                    const DiffSink& sink) {
  Reconciler r{live, fresh, sink, {}, {}, {}, {}, {}};
  r.run(live_dir, fresh_dir);
  return r.stats;
}

}  // namespace lookout::core
