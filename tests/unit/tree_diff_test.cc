// The diff engine, driven with synthetic models: no filesystem, no threads.
// Every case checks the property the engine promises: applying the reported events in order
// to the old tree yields the new one.
#include "core/tree_diff.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace lookout::core {
namespace {

struct Entry {
  sys::FileType type;
  std::uint64_t ino;
  std::uint64_t size;
  std::int64_t mtime;
  std::uint64_t btime = 0;  // birth time; 0: the filesystem keeps none
};
using Snapshot = std::map<std::string, Entry>;  // relative path -> entry

NodeId load(TreeModel& m, const Snapshot& s) {
  sys::FileStat root_st;
  root_st.type = sys::FileType::dir;
  root_st.ino = 1;
  NodeId root = m.add_root("/r", root_st);
  for (const auto& [path, e] : s) {  // map order puts parents before children
    NodeId parent = root;
    std::size_t slash = path.rfind('/');
    if (slash != std::string::npos) parent = m.find_path("/r/" + path.substr(0, slash));
    EXPECT_NE(parent, kNoNode) << path;
    sys::FileStat st;
    st.type = e.type;
    st.ino = e.ino;
    st.size = e.size;
    st.mtime_ns = e.mtime;
    if (e.btime != 0) {
      st.birth = e.btime;
      st.birth_kind = sys::BirthKind::btime;
    }
    m.add(parent, path.substr(slash == std::string::npos ? 0 : slash + 1), st, true);
  }
  return root;
}

// Applies events the way a consumer would, to a set of paths.
void apply(std::map<std::string, sys::FileType>& state, EventKind k, const std::string& path,
           const std::string& from, bool is_dir) {
  auto erase_tree = [&](const std::string& p) {
    for (auto it = state.begin(); it != state.end();) {
      if (it->first == p || it->first.rfind(p + "/", 0) == 0) {
        it = state.erase(it);
      } else {
        ++it;
      }
    }
  };
  switch (k) {
    case EventKind::create:
      state[path] = is_dir ? sys::FileType::dir : sys::FileType::file;
      break;
    case EventKind::remove:
      erase_tree(path);
      break;
    case EventKind::rename: {
      std::map<std::string, sys::FileType> moved;
      for (auto& [p, t] : state) {
        if (p == from) moved[path] = t;
        else if (p.rfind(from + "/", 0) == 0) moved[path + p.substr(from.size())] = t;
      }
      erase_tree(from);
      erase_tree(path);
      for (auto& kv : moved) state.insert(kv);
      break;
    }
    default:
      break;
  }
}

std::map<std::string, sys::FileType> as_state(const Snapshot& s) {
  std::map<std::string, sys::FileType> out;
  for (auto& [p, e] : s) out["/r/" + p] = e.type;
  return out;
}

struct Outcome {
  DiffStats stats;
  std::vector<std::string> log;
  std::map<std::string, sys::FileType> consumer;
};

Outcome run_diff(const Snapshot& before, const Snapshot& after) {
  TreeModel live, fresh;
  NodeId lr = load(live, before);
  NodeId fr = load(fresh, after);
  Outcome o;
  o.consumer = as_state(before);
  DiffSink sink;
  sink.event = [&](EventKind k, const std::string& p, const std::string& from, bool is_dir) {
    o.log.push_back(std::string(event_kind_name(k)) + " " + p + (from.empty() ? "" : " <- " + from));
    apply(o.consumer, k, p, from, is_dir);
  };
  o.stats = reconcile(live, lr, fresh, fr, sink);
  // The live model must now equal the scan too.
  Snapshot rebuilt;
  for (NodeId id : live.subtree_post_order(lr)) {
    if (id == lr) continue;
    std::string p = live.path(id).substr(3);
    const sys::FileStat st = live.stat(id);
    rebuilt[p] = Entry{st.type, st.ino, st.size, st.mtime_ns};
  }
  EXPECT_EQ(rebuilt.size(), after.size());
  for (auto& [p, e] : after) {
    auto it = rebuilt.find(p);
    EXPECT_TRUE(it != rebuilt.end() && it->second.ino == e.ino) << "live model lacks " << p;
  }
  return o;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& l : v) s += l + "\n";
  return s;
}

constexpr auto D = sys::FileType::dir;
constexpr auto F = sys::FileType::file;

TEST(TreeDiff, IdenticalTreesReportNothing) {
  Snapshot s{{"a", {D, 2, 0, 0}}, {"a/f", {F, 3, 10, 5}}};
  auto o = run_diff(s, s);
  EXPECT_EQ(o.stats.total(), 0u) << joined(o.log);
}

TEST(TreeDiff, CreateDeleteModify) {
  Snapshot before{{"a", {D, 2, 0, 0}}, {"a/f", {F, 3, 10, 5}}, {"g", {F, 4, 1, 1}}};
  Snapshot after{{"a", {D, 2, 0, 0}}, {"a/f", {F, 3, 11, 6}}, {"h", {D, 5, 0, 0}}, {"h/x", {F, 6, 0, 0}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.modified, 1u);
  EXPECT_EQ(o.stats.removed, 1u);
  EXPECT_EQ(o.stats.created, 2u);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
}

TEST(TreeDiff, FileRenameDetectedByIdentity) {
  Snapshot before{{"a", {D, 2, 0, 0}}, {"a/f", {F, 3, 10, 5}}, {"b", {D, 4, 0, 0}}};
  Snapshot after{{"a", {D, 2, 0, 0}}, {"b", {D, 4, 0, 0}}, {"b/g", {F, 3, 10, 5}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.renamed, 1u) << joined(o.log);
  EXPECT_EQ(o.stats.created + o.stats.removed, 0u);
  EXPECT_EQ(o.log.front(), "rename /r/b/g <- /r/a/f");
  EXPECT_EQ(o.consumer, as_state(after));
}

TEST(TreeDiff, ReusedInodeWithNewContentIsNotARename) {
  // ext4 hands a freed inode number to the next file at once
  // (docs/kernel-facts.md#ext4-reuses-inode-numbers).
  Snapshot before{{"old", {F, 7, 10, 5}}};
  Snapshot after{{"new", {F, 7, 3, 9}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.renamed, 0u) << joined(o.log);
  EXPECT_EQ(o.consumer, as_state(after));
}

// The case size+mtime cannot catch: the new file has the old one's inode number, size and
// mtime (a tool restored it), and only the birth stamp says it is another file.
TEST(TreeDiff, ReusedInodeWithEqualSizeAndMtimeButNewBirthIsDeleteAndCreate) {
  Snapshot before{{"old", {F, 7, 10, 5, 1000}}};
  Snapshot after{{"new", {F, 7, 10, 5, 2000}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.renamed, 0u) << joined(o.log);
  EXPECT_EQ(o.stats.removed, 1u) << joined(o.log);
  EXPECT_EQ(o.stats.created, 1u) << joined(o.log);
  EXPECT_EQ(o.log, (std::vector<std::string>{"delete /r/old", "create /r/new"}));
  EXPECT_EQ(o.consumer, as_state(after));
}

TEST(TreeDiff, ReusedInodeUnderTheSameNameIsDeleteAndCreate) {
  Snapshot before{{"f", {F, 7, 10, 5, 1000}}};
  Snapshot after{{"f", {F, 7, 10, 5, 2000}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.log, (std::vector<std::string>{"delete /r/f", "create /r/f"}));
  EXPECT_EQ(o.consumer, as_state(after));
}

TEST(TreeDiff, ReusedDirectoryInodeIsNotARename) {
  Snapshot before{{"d", {D, 7, 0, 0, 1000}}};
  Snapshot after{{"e", {D, 7, 0, 0, 2000}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.renamed, 0u) << joined(o.log);
  EXPECT_EQ(o.consumer, as_state(after));
}

// With a birth stamp, identity no longer needs the content stamp: a file renamed and written
// between two scans is one rename plus a modify, not delete+create.
TEST(TreeDiff, RenamedAndWrittenFileWithTheSameBirthIsARename) {
  Snapshot before{{"a", {F, 7, 10, 5, 1000}}};
  Snapshot after{{"b", {F, 7, 11, 6, 1000}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.log, (std::vector<std::string>{"rename /r/b <- /r/a", "modify /r/b"}));
  EXPECT_EQ(o.consumer, as_state(after));
}

TEST(TreeDiff, DirectoryRenameCarriesItsSubtreeAndChangesInside) {
  Snapshot before{{"a", {D, 2, 0, 0}}, {"a/b", {D, 3, 0, 0}}, {"a/b/f", {F, 4, 1, 1}}, {"a/g", {F, 5, 1, 1}}};
  Snapshot after{{"z", {D, 2, 0, 0}}, {"z/b", {D, 3, 0, 0}}, {"z/b/f", {F, 4, 2, 2}}, {"z/h", {F, 6, 1, 1}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.stats.renamed, 1u) << joined(o.log);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
}

TEST(TreeDiff, AtomicSaveOverAnExistingFile) {
  Snapshot before{{"cfg", {F, 2, 10, 5}}, {".cfg.tmp", {F, 3, 12, 8}}};
  Snapshot after{{"cfg", {F, 3, 12, 8}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
  EXPECT_EQ(o.stats.renamed, 1u) << joined(o.log);
}

TEST(TreeDiff, SwapFallsBackSafely) {
  Snapshot before{{"a", {F, 2, 1, 1}}, {"b", {F, 3, 2, 2}}};
  Snapshot after{{"a", {F, 3, 2, 2}}, {"b", {F, 2, 1, 1}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
}

TEST(TreeDiff, FileBecomesDirectory) {
  Snapshot before{{"x", {F, 2, 1, 1}}};
  Snapshot after{{"x", {D, 9, 0, 0}}, {"x/y", {F, 10, 0, 0}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
}

TEST(TreeDiff, MoveIntoNewDirectoryAndOutOfDeletedOne) {
  Snapshot before{{"old", {D, 2, 0, 0}}, {"old/f", {F, 3, 1, 1}}, {"old/g", {F, 4, 1, 1}}};
  Snapshot after{{"new", {D, 5, 0, 0}}, {"new/f", {F, 3, 1, 1}}, {"g", {F, 4, 1, 1}}};
  auto o = run_diff(before, after);
  EXPECT_EQ(o.consumer, as_state(after)) << joined(o.log);
}

// A watcher lists new directories itself once it watches them (the scan is stale for them):
// the diff then creates each new directory empty and hands it over, even one that holds a
// directory the live model knew elsewhere.
TEST(TreeDiff, ShallowNewDirectoriesAreCreatedEmptyAndHandedOver) {
  Snapshot before{{"a", {D, 2, 0, 0}}, {"a/moved", {D, 3, 0, 0}}, {"a/moved/f", {F, 4, 1, 1}}};
  Snapshot after{{"a", {D, 2, 0, 0}}, {"n", {D, 5, 0, 0}}, {"n/moved", {D, 3, 0, 0}},
                 {"n/moved/f", {F, 4, 1, 1}}, {"n/g", {F, 6, 1, 1}}};
  TreeModel live, fresh;
  NodeId lr = load(live, before);
  NodeId fr = load(fresh, after);
  std::vector<std::string> log;
  std::vector<std::string> handed;
  DiffSink sink;
  sink.shallow_new_dirs = true;
  sink.event = [&](EventKind k, const std::string& p, const std::string&, bool) {
    log.push_back(std::string(event_kind_name(k)) + " " + p);
  };
  sink.dir_added = [&](NodeId id) { handed.push_back(live.path(id)); };
  reconcile(live, lr, fresh, fr, sink);
  EXPECT_EQ(log, (std::vector<std::string>{"delete /r/a/moved/f", "delete /r/a/moved", "create /r/n"}));
  EXPECT_EQ(handed, std::vector<std::string>{"/r/n"});
  NodeId n = live.find(lr, "n");
  ASSERT_NE(n, kNoNode);
  EXPECT_EQ(live.node(n).first_child(), kNoNode) << "a new directory's entries are the caller's to list";
}

// --checksum: content hashes in the side tables decide when size and mtime cannot.
TEST(TreeDiff, ContentHashChangeWithEqualSizeAndMtimeIsAModify) {
  for (bool same_content : {false, true}) {
    TreeModel live, fresh;
    Snapshot before{{"f", {F, 7, 10, 5, 1000}}};
    NodeId lr = load(live, before);
    NodeId fr = load(fresh, before);
    NodeId lf = live.find(lr, "f"), ff = fresh.find(fr, "f");
    live.set_content_hash(lf, 111);
    sys::FileStat st = fresh.stat(ff);
    st.ctime_ns = 99;  // the write moved ctime, nothing else
    fresh.set_stat(ff, st, fresh.stat_known(ff));
    fresh.set_content_hash(ff, same_content ? 111 : 222);
    std::vector<std::string> log;
    DiffSink sink;
    sink.event = [&](EventKind k, const std::string& p, const std::string&, bool) {
      log.push_back(std::string(event_kind_name(k)) + " " + p);
    };
    reconcile(live, lr, fresh, fr, sink);
    EXPECT_EQ(log, std::vector<std::string>{same_content ? "attrib /r/f" : "modify /r/f"});
    // The live model now holds the new hash, valid for the new ctime.
    ASSERT_TRUE(live.content_hash(lf));
    EXPECT_EQ(*live.content_hash(lf), same_content ? 111u : 222u);
  }
}

// Random trees and random mutations: the consumer's result must always equal the new tree.
// Run once without birth stamps (identity falls back to size+mtime) and once with one per
// object (a rename keeps it, a create gets a new one).
TEST(TreeDiff, RandomizedMutationsAlwaysReconstruct) {
  for (unsigned seed = 1; seed <= 600; ++seed) {
    const bool births = seed > 300;
    auto birth_of = [&](std::uint64_t ino) -> std::uint64_t { return births ? ino * 7 + 1 : 0; };
    std::mt19937 rng(births ? seed - 300 : seed);  // the same 300 cases both ways
    std::uint64_t next_ino = 100;
    Snapshot before;
    std::vector<std::string> dirs{""};
    for (int i = 0; i < 40; ++i) {
      std::string parent = dirs[rng() % dirs.size()];
      std::string name = (parent.empty() ? "" : parent + "/") + "n" + std::to_string(i);
      bool is_dir = rng() % 3 == 0;
      std::uint64_t ino = next_ino++;
      before[name] = Entry{is_dir ? D : F, ino, rng() % 5, static_cast<std::int64_t>(rng() % 5), birth_of(ino)};
      if (is_dir) dirs.push_back(name);
    }
    Snapshot after = before;
    for (int op = 0; op < 12; ++op) {
      if (after.empty()) break;
      auto it = std::next(after.begin(), rng() % after.size());
      std::string victim = it->first;
      switch (rng() % 4) {
        case 0: {  // delete subtree
          for (auto j = after.begin(); j != after.end();) {
            j = (j->first == victim || j->first.rfind(victim + "/", 0) == 0) ? after.erase(j) : std::next(j);
          }
          break;
        }
        case 1: {  // modify
          it->second.size += 1;
          it->second.mtime += 1;
          break;
        }
        case 2: {  // create
          std::string name = "c" + std::to_string(seed) + "_" + std::to_string(op);
          std::string parent;
          if (it->second.type == D) parent = victim + "/";
          std::uint64_t ino = next_ino++;
          after[parent + name] = Entry{rng() % 2 ? D : F, ino, 0, 0, birth_of(ino)};
          break;
        }
        case 3: {  // rename subtree to a fresh name at the top or inside another dir
          std::string target = "m" + std::to_string(seed) + "_" + std::to_string(op);
          std::vector<std::string> cand;
          for (auto& [p, e] : after)
            if (e.type == D && p != victim && p.rfind(victim + "/", 0) != 0) cand.push_back(p);
          if (!cand.empty() && rng() % 2) target = cand[rng() % cand.size()] + "/" + target;
          Snapshot moved;
          for (auto j = after.begin(); j != after.end();) {
            if (j->first == victim || j->first.rfind(victim + "/", 0) == 0) {
              moved[target + j->first.substr(victim.size())] = j->second;
              j = after.erase(j);
            } else {
              ++j;
            }
          }
          after.insert(moved.begin(), moved.end());
          break;
        }
      }
    }
    auto o = run_diff(before, after);
    ASSERT_EQ(o.consumer, as_state(after)) << "seed " << seed << "\n" << joined(o.log);
  }
}

}  // namespace
}  // namespace lookout::core
