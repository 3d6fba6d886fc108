#include "core/tree_model.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(m.node(a).st.ino, 2u);
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
  m.node(a).st.ctime_ns += 1;      // a write (seen by an event) moved ctime: the hash is stale
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

}  // namespace
}  // namespace lookout::core
