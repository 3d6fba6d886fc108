#include "core/tree_model.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace lookout::core {
namespace {

sys::FileStat stat_of(sys::FileType type, std::uint64_t ino) {
  sys::FileStat s;
  s.type = type;
  s.ino = ino;
  return s;
}
sys::FileStat dir_stat(std::uint64_t ino) { return stat_of(sys::FileType::dir, ino); }
sys::FileStat file_stat(std::uint64_t ino) { return stat_of(sys::FileType::file, ino); }

TEST(TreeModel, PathsFollowDirectoryRenames) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId a = m.add(root, "a", dir_stat(2), true);
  NodeId b = m.add(a, "b", dir_stat(3), true);
  NodeId f = m.add(b, "f", file_stat(4), true);
  EXPECT_EQ(m.path(f), "/w/a/b/f");
  m.move(a, root, "z");
  EXPECT_EQ(m.path(f), "/w/z/b/f");
  EXPECT_EQ(m.find_path("/w/z/b/f"), f);
  EXPECT_EQ(m.find_path("/w/a/b/f"), kNoNode);
  m.move(b, root, "top");
  EXPECT_EQ(m.path(f), "/w/top/f");
}

TEST(TreeModel, MoveOverOccupantRemovesIt) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId x = m.add(root, "x", file_stat(2), true);
  NodeId y = m.add(root, "y", file_stat(3), true);
  std::vector<NodeId> removed;
  m.set_remove_hook([&](NodeId id, const Node&) { removed.push_back(id); });
  m.move(x, root, "y");
  EXPECT_EQ(removed, std::vector<NodeId>{y});
  EXPECT_EQ(m.find(root, "y"), x);
  EXPECT_EQ(m.size(), 2u);
}

// Only a stale model asks for this (rename(2) replaces only an empty directory): refused,
// and nothing is removed, instead of freeing the node being moved.
TEST(TreeModel, MoveOntoItsOwnAncestorIsRefused) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId a = m.add(root, "a", dir_stat(2), true);
  NodeId b = m.add(a, "b", dir_stat(3), true);
  NodeId c = m.add(b, "c", dir_stat(4), true);
  EXPECT_FALSE(m.move(c, root, "a"));
  ASSERT_TRUE(m.valid(c));
  EXPECT_EQ(m.path(c), "/w/a/b/c");
  EXPECT_EQ(m.size(), 4u);
}

TEST(TreeModel, RemoveIsPostOrderAndReusesSlots) {
  TreeModel m;
  NodeId root = m.add_root("/", dir_stat(1));
  NodeId a = m.add(root, "a", dir_stat(2), true);
  NodeId b = m.add(a, "b", dir_stat(3), true);
  NodeId f = m.add(b, "f", file_stat(4), true);
  EXPECT_EQ(m.path(f), "/a/b/f");
  std::vector<NodeId> order;
  m.set_remove_hook([&](NodeId id, const Node&) { order.push_back(id); });
  m.remove(a);
  EXPECT_EQ(order, (std::vector<NodeId>{f, b, a}));
  EXPECT_EQ(m.size(), 1u);
  NodeId again = m.add(root, "again", file_stat(5), true);
  EXPECT_TRUE(again == a || again == b || again == f);
  EXPECT_EQ(m.path(again), "/again");
}

TEST(TreeModel, NamesAreBytes) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  std::string odd("a\nb\xff c", 6);
  NodeId n = m.add(root, odd, file_stat(2), true);
  EXPECT_EQ(m.find(root, odd), n);
  EXPECT_EQ(m.path(n), "/w/" + odd);
}

TEST(TreeModel, IndexSurvivesGrowthAndChurn) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  for (int round = 0; round < 3; ++round) {
    std::vector<NodeId> ids;
    for (int i = 0; i < 5000; ++i) ids.push_back(m.add(root, "n" + std::to_string(i), file_stat(i), true));
    for (int i = 0; i < 5000; i += 2) m.remove(ids[i]);
    for (int i = 1; i < 5000; i += 2) ASSERT_EQ(m.find(root, "n" + std::to_string(i)), ids[i]);
    for (int i = 0; i < 5000; i += 2) ASSERT_EQ(m.find(root, "n" + std::to_string(i)), kNoNode);
    for (int i = 1; i < 5000; i += 2) m.remove(ids[i]);
  }
  EXPECT_EQ(m.size(), 1u);
}

TEST(TreeModel, AddIsIdempotent) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId a = m.add(root, "a", file_stat(2), true);
  EXPECT_EQ(m.add(root, "a", file_stat(99), true), a);
  EXPECT_EQ(m.stat(a).ino, 2u);
}

TEST(TreeModel, ContentHashIsValidForItsCtimeAndDiesWithItsNode) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId a = m.add(root, "a", file_stat(2), true);
  EXPECT_FALSE(m.content_hash(a));
  m.set_content_hash(a, 42);
  ASSERT_TRUE(m.content_hash(a));
  EXPECT_EQ(*m.content_hash(a), 42u);
  ASSERT_TRUE(m.move(a, root, "b"));
  EXPECT_TRUE(m.content_hash(a));  // a rename keeps the content
  sys::FileStat st = m.stat(a);
  st.ctime_ns += 1;  // a write (seen by an event) moved ctime: the hash is stale
  m.set_stat(a, st);
  EXPECT_FALSE(m.content_hash(a));
  m.set_content_hash(a, 43);
  m.remove(a);
  NodeId again = m.add(root, "c", file_stat(3), true);
  EXPECT_EQ(again, a);  // the id is reused...
  EXPECT_FALSE(m.content_hash(again));  // ...without the old file's hash
  EXPECT_EQ(m.content_hash_count(), 0u);
}

// Paths are built in one allocation, from the end back: the separators must come out as
// they did when built front to front, for the root "/" (whose name ends in '/') too.
TEST(TreeModel, PathsAndChildPathsOfEveryShape) {
  TreeModel m;
  NodeId slash = m.add_root("/", dir_stat(1));
  NodeId a = m.add(slash, "a", dir_stat(2), true);
  NodeId f = m.add(a, "f", file_stat(3), true);
  NodeId w = m.add_root("/srv/w", dir_stat(4));
  NodeId long_dir = m.add(w, std::string(40, 'd'), dir_stat(5), true);
  EXPECT_EQ(m.path(slash), "/");
  EXPECT_EQ(m.path(a), "/a");
  EXPECT_EQ(m.path(f), "/a/f");
  EXPECT_EQ(m.path(w), "/srv/w");
  EXPECT_EQ(m.path(long_dir), "/srv/w/" + std::string(40, 'd'));
  EXPECT_EQ(m.child_path(slash, "x"), "/x");
  EXPECT_EQ(m.child_path(a, "x"), "/a/x");
  EXPECT_EQ(m.child_path(w, "x"), "/srv/w/x");
  EXPECT_EQ(m.child_path(long_dir, "x"), "/srv/w/" + std::string(40, 'd') + "/x");
  EXPECT_EQ(m.child_path(a, ""), "/a/");
  EXPECT_EQ(m.child_path(kTopNode, "/srv/w"), "//srv/w") << "as before: top has no path";
  EXPECT_EQ(m.path(kTopNode), "");
  m.remove(a);
  EXPECT_EQ(m.path(f), "") << "a removed node has no path";
  EXPECT_EQ(m.child_path(a, "x"), "/x");
}

TEST(TreeModel, ListedEntryHoldsTypeAndInodeAndItsDirectorysDevice) {
  TreeModel m;
  sys::FileStat d = dir_stat(1);
  d.dev = 7;
  d.mode = 040755;
  NodeId root = m.add_root("/w", d);
  sys::FileStat listed = file_stat(2);
  listed.dev = 7;  // what the scanner gives an entry it did not stat
  NodeId f = m.add(root, "f", listed, false);
  EXPECT_FALSE(m.stat_known(f));
  EXPECT_EQ(m.stat(f), listed);
  EXPECT_EQ(m.type(f), sys::FileType::file);
  EXPECT_EQ(m.stat_count(), 1u);  // the root's only: the listed file needs no slot

  sys::FileStat full = listed;
  full.size = 10;
  full.mode = 0100644;
  full.nlink = 1;
  m.set_stat(f, full);
  EXPECT_TRUE(m.stat_known(f));
  EXPECT_EQ(m.stat(f), full);
  EXPECT_EQ(m.stat_count(), 2u);

  // Unknown again: the stat it held stays as it was, as when it was inline.
  m.set_stat_known(f, false);
  EXPECT_EQ(m.stat(f), full);
  // A listing's stat again: the slot goes back for the next stat'ed node.
  m.set_stat(f, listed, false);
  EXPECT_EQ(m.stat(f), listed);
  EXPECT_EQ(m.stat_count(), 1u);
}

TEST(TreeModel, UnknownStatThatIsNotAListingsKeepsAllItHeld) {
  TreeModel m;
  sys::FileStat d = dir_stat(1);
  d.dev = 7;
  NodeId root = m.add_root("/w", d);
  sys::FileStat odd = file_stat(0);  // an event's guess: no dev, no inode
  NodeId f = m.add(root, "f", odd, false);
  EXPECT_EQ(m.stat(f), odd);
  EXPECT_EQ(m.stat(f).dev, 0u);
}

TEST(TreeModel, StatSlotsOfRemovedNodesAreReused) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  sys::FileStat a_st = file_stat(2);
  a_st.size = 5;
  NodeId a = m.add(root, "a", a_st, true);
  EXPECT_EQ(m.stat_count(), 2u);
  m.remove(a);
  EXPECT_EQ(m.stat(a), a_st);  // a stale id still reads what its node last held
  sys::FileStat b_st = file_stat(3);
  b_st.size = 6;
  NodeId b = m.add(root, "b", b_st, true);
  EXPECT_EQ(b, a);
  EXPECT_EQ(m.stat(b), b_st);
  EXPECT_EQ(m.stat_count(), 2u);
  // Many nodes: every stat survives the table's growth.
  std::vector<NodeId> ids;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    sys::FileStat st = file_stat(100 + i);
    st.size = i;
    ids.push_back(m.add(root, "f" + std::to_string(i), st, true));
  }
  for (std::uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(m.stat(ids[i]).size, i);
}

TEST(TreeModel, NamesSurviveRenamesRemovalsAndCompaction) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId keep = m.add(root, "kept-all-along", file_stat(2), true);
  NodeId churn = m.add(root, "churn", file_stat(3), true);
  // Enough renames to leave far more holes than names: the arena compacts meanwhile.
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(m.move(churn, root, "a-rather-long-name-for-the-arena-" + std::to_string(i)));
  }
  EXPECT_EQ(m.name(keep), "kept-all-along");
  TreeModel::CName buf;
  EXPECT_STREQ(m.c_name(keep, buf), "kept-all-along");
  EXPECT_EQ(m.name(churn), "a-rather-long-name-for-the-arena-19999");
  EXPECT_EQ(m.find(root, "kept-all-along"), keep);
  EXPECT_EQ(m.find_path("/w/a-rather-long-name-for-the-arena-19999"), churn);
  EXPECT_EQ(m.find(root, "a-rather-long-name-for-the-arena-19998"), kNoNode);
  EXPECT_EQ(m.path(keep), "/w/kept-all-along");
  EXPECT_EQ(m.name(kTopNode), "");
  // A name given from the model's own arena, which the call may move.
  NodeId sub = m.add(root, "sub", dir_stat(4), true);
  NodeId twin = m.add(sub, m.name(keep), file_stat(5), true);
  EXPECT_EQ(m.name(twin), "kept-all-along");
  EXPECT_EQ(m.path(twin), "/w/sub/kept-all-along");
  // Onto an occupant's name, given as a view of that occupant's own name.
  ASSERT_TRUE(m.move(churn, root, m.name(keep)));
  EXPECT_FALSE(m.valid(keep));
  EXPECT_EQ(m.name(churn), "kept-all-along");
  EXPECT_EQ(m.find(root, "kept-all-along"), churn);
  // A removed node's name is gone; its id reads as nameless.
  m.remove(churn);
  EXPECT_EQ(m.find(root, "kept-all-along"), kNoNode);
}

// A name's length is a byte before it; a root's path past 254 bytes is measured to its NUL.
TEST(TreeModel, NamesOfEveryLengthReadBack) {
  TreeModel m;
  const std::string long_root = "/" + std::string(300, 'r');
  NodeId root = m.add_root(long_root, dir_stat(1));
  EXPECT_EQ(m.name(root), long_root);
  TreeModel::CName root_buf;
  EXPECT_EQ(m.c_name(root, root_buf), long_root);
  for (std::size_t len : {1u, 2u, 15u, 16u, 127u, 128u, 254u, 255u}) {
    const std::string name(len, 'a' + len % 26);
    NodeId id = m.add(root, name, file_stat(10 + len), true);
    EXPECT_EQ(m.name(id), name) << len;
    TreeModel::CName buf;
    EXPECT_EQ(std::strlen(m.c_name(id, buf)), len);
    EXPECT_EQ(m.find(root, name), id) << len;
    EXPECT_EQ(m.find(root, name.substr(1)), kNoNode) << len;
    EXPECT_EQ(m.path(id), long_root + "/" + name);
    EXPECT_EQ(m.find_path(long_root + "/" + name), id);
  }
}

// A listing's inode number past 32 bits (xfs inode64) does not fit the node: it takes a stat
// slot and reads back whole; a small one takes none.
TEST(TreeModel, InodeNumbersPast32BitsReadBackWhole) {
  TreeModel m;
  sys::FileStat d = dir_stat(1);
  d.dev = 9;
  NodeId root = m.add_root("/w", d);
  EXPECT_EQ(m.stat_count(), 1u);
  sys::FileStat big = file_stat(0x1'0000'0007ULL);
  big.dev = 9;
  NodeId f = m.add(root, "big", big, false);
  EXPECT_EQ(m.stat(f).ino, 0x1'0000'0007ULL);
  EXPECT_EQ(m.stat(f).dev, 9u);
  EXPECT_FALSE(m.stat_known(f));
  EXPECT_EQ(m.stat_count(), 2u);
  sys::FileStat small = file_stat(0xffff'fff0ULL);
  small.dev = 9;
  NodeId g = m.add(root, "small", small, false);
  EXPECT_EQ(m.stat(g).ino, 0xffff'fff0ULL);
  EXPECT_EQ(m.stat_count(), 2u);
}

// The index against a std::map through adds, removals, renames and the rebuilds they cause
// (growth, and shrinking once erased slots pile up), with names that differ in length only.
TEST(TreeModel, IndexMatchesAMapThroughChurn) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  NodeId sub = m.add(root, "sub", dir_stat(2), true);
  std::map<std::pair<NodeId, std::string>, NodeId> want;
  std::mt19937 rng(16);
  auto name_for = [](unsigned k) { return std::string(1 + k % 7, 'n') + std::to_string(k / 7); };
  for (int round = 0; round < 60000; ++round) {
    const NodeId dir = rng() % 2 ? root : sub;
    const std::string name = name_for(rng() % 5000);
    const int op = static_cast<int>(rng() % 10);
    auto key = std::make_pair(dir, name);
    if (op < 5) {
      NodeId id = m.add(dir, name, file_stat(10 + round), true);
      if (!want.count(key)) want[key] = id;
      EXPECT_EQ(want[key], id);
    } else if (op < 8) {
      auto it = want.find(key);
      if (it == want.end()) continue;
      m.remove(it->second);
      want.erase(it);
    } else {
      auto it = want.find(key);
      if (it == want.end()) continue;
      const NodeId to_dir = rng() % 2 ? root : sub;
      const std::string to_name = name_for(rng() % 5000);
      const NodeId id = it->second;
      want.erase(it);
      auto occupant = want.find({to_dir, to_name});
      if (occupant != want.end()) want.erase(occupant);
      ASSERT_TRUE(m.move(id, to_dir, to_name));
      want[{to_dir, to_name}] = id;
    }
  }
  for (const auto& [key, id] : want) {
    ASSERT_EQ(m.find(key.first, key.second), id) << key.second;
  }
  for (unsigned k = 0; k < 5000; ++k) {
    for (NodeId dir : {root, sub}) {
      if (!want.count({dir, name_for(k)})) {
        ASSERT_EQ(m.find(dir, name_for(k)), kNoNode);
      }
    }
  }
  EXPECT_EQ(m.size(), want.size() + 2);
}

// The index rebuilt tighter after a crawl finds every entry, and grows again when more come.
TEST(TreeModel, ShrunkIndexFindsEverythingAndGrowsAgain) {
  TreeModel m;
  NodeId root = m.add_root("/w", dir_stat(1));
  std::vector<NodeId> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(m.add(root, "f" + std::to_string(i), file_stat(10 + i), false));
  for (int i = 0; i < 5000; i += 2) m.remove(ids[i]);
  m.shrink_index();
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(m.find(root, "f" + std::to_string(i)), i % 2 ? ids[i] : kNoNode) << i;
  }
  for (int i = 5000; i < 9000; ++i) ids.push_back(m.add(root, "f" + std::to_string(i), file_stat(10 + i), false));
  for (int i = 1; i < 9000; i += (i < 5000 ? 2 : 1)) ASSERT_EQ(m.find(root, "f" + std::to_string(i)), ids[i]) << i;
}

// Bytes per entry of the model's own table (the hash index adds 5-8 per entry, a stat'ed
// entry 56 more in the stat table): see docs/design.md "Tree model".
TEST(TreeModel, NodeSize) {
  if (sizeof(void*) == 8) {
    EXPECT_LE(sizeof(Node), 24u);
  }
}

// A node's one word is a file's inode number or a directory's first child: each must read
// back as it was through every change of what the node is.
TEST(TreeModel, TheWordThatIsAnInodeOrAChildListKeepsBoth) {
  TreeModel m;
  sys::FileStat d = dir_stat(1);
  d.dev = 7;
  NodeId root = m.add_root("/w", d);
  // A directory found by a listing (not stat'ed): its inode is kept, its children listed.
  sys::FileStat listed_dir = dir_stat(0xabcdef);
  listed_dir.dev = 7;
  NodeId sub = m.add(root, "sub", listed_dir, false);
  EXPECT_EQ(m.stat(sub), listed_dir);
  EXPECT_EQ(m.node(sub).first_child(), kNoNode);
  sys::FileStat listed_file = file_stat(0x12345678);
  listed_file.dev = 7;
  NodeId f = m.add(sub, "f", listed_file, false);
  NodeId g = m.add(sub, "g", listed_file, false);
  EXPECT_EQ(m.stat(f), listed_file);
  EXPECT_EQ(m.node(f).first_child(), kNoNode);
  EXPECT_EQ(m.children(sub).size(), 2u);
  EXPECT_EQ(m.stat(sub), listed_dir);  // its children did not overwrite its inode
  // A file that a stale model is given a child of: its inode moves into a stat slot.
  NodeId odd = m.add(f, "x", listed_file, false);
  EXPECT_EQ(m.stat(f), listed_file);
  EXPECT_EQ(m.node(f).first_child(), odd);
  EXPECT_EQ(m.path(odd), "/w/sub/f/x");
  // A directory whose stat says file now (a replaced name the model has not caught up
  // with): the stat and the children both stay readable, and removal takes them all.
  sys::FileStat now_file = file_stat(99);
  now_file.dev = 7;
  m.set_stat(sub, now_file);
  EXPECT_EQ(m.stat(sub), now_file);
  EXPECT_EQ(m.children(sub).size(), 2u);
  const std::size_t before = m.size();
  m.remove(sub);
  EXPECT_EQ(m.size(), before - 4);  // sub, f, g and x
  EXPECT_EQ(m.find(root, "sub"), kNoNode);
  // Reused ids start as plain entries again.
  NodeId h = m.add(root, "h", listed_file, false);
  EXPECT_TRUE(h == sub || h == f || h == g || h == odd);
  EXPECT_EQ(m.stat(h), listed_file);
  EXPECT_EQ(m.node(h).first_child(), kNoNode);
  NodeId e = m.add(root, "e", listed_dir, false);
  EXPECT_EQ(m.stat(e), listed_dir);
  EXPECT_EQ(m.node(e).first_child(), kNoNode);
  EXPECT_EQ(m.children(root).size(), 2u);
}

}  // namespace
}  // namespace lookout::core
