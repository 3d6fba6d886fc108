#include "core/inotify_watches.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace lookout::core {
namespace {

TEST(InotifyWatches, BindsBothWaysAndDropsEachWayOnItsOwn) {
  InotifyWatches w;
  EXPECT_EQ(w.wd_of(7), -1);
  EXPECT_EQ(w.node_of(3), kNoNode);
  EXPECT_EQ(w.node_of(-1), kNoNode);
  w.bind(7, 3);
  EXPECT_TRUE(w.watched(7));
  EXPECT_EQ(w.wd_of(7), 3);
  EXPECT_EQ(w.node_of(3), 7u);
  // A node removed: its wd may pass to an heir, so the wd's entry stays until dropped.
  w.drop_node(7);
  EXPECT_FALSE(w.watched(7));
  EXPECT_EQ(w.node_of(3), 7u);
  w.bind(9, 3);
  EXPECT_EQ(w.node_of(3), 9u);
  w.drop_wd(3);
  EXPECT_EQ(w.node_of(3), kNoNode);
  EXPECT_EQ(w.wd_of(9), 3);
  w.clear();
  EXPECT_FALSE(w.watched(9));
}

// The NodeId -> wd table against a std::unordered_map, through growth and erasures that shift
// entries back across the table's end.
TEST(InotifyWatches, MatchesAMapThroughGrowthAndErasure) {
  InotifyWatches w;
  std::unordered_map<NodeId, int> want;
  std::mt19937 rng(16);
  int next_wd = 1;
  for (int round = 0; round < 20000; ++round) {
    const NodeId id = static_cast<NodeId>(rng() % 3000);
    if (rng() % 3 != 0) {
      w.bind(id, next_wd);
      want[id] = next_wd++;
    } else {
      w.drop_node(id);
      want.erase(id);
    }
    if (round % 997 == 0) {
      for (NodeId probe = 0; probe < 3000; ++probe) {
        auto it = want.find(probe);
        ASSERT_EQ(w.wd_of(probe), it == want.end() ? -1 : it->second) << "node " << probe;
      }
    }
  }
  for (auto [id, wd] : want) {
    EXPECT_EQ(w.wd_of(id), wd);
    EXPECT_EQ(w.node_of(wd), id);
  }
  w.clear();
  EXPECT_EQ(w.wd_of(want.begin()->first), -1);
  w.bind(5, 2);
  EXPECT_EQ(w.wd_of(5), 2);
}

TEST(InotifyWatches, ShrunkTableKeepsEveryWatchAndBothDirections) {
  InotifyWatches w;
  for (NodeId id = 0; id < 4000; ++id) w.bind(id * 11, static_cast<int>(id + 1));
  for (NodeId id = 0; id < 4000; id += 3) w.drop_node(id * 11);
  w.bind(5, 2);  // wd 2 passes to another node; node 11 still names it on its side
  w.shrink();
  for (NodeId id = 0; id < 4000; ++id) {
    ASSERT_EQ(w.wd_of(id * 11), id % 3 == 0 ? -1 : static_cast<int>(id + 1)) << id;
  }
  EXPECT_EQ(w.node_of(2), 5u);
  EXPECT_EQ(w.wd_of(5), 2);
  w.bind(99999, 9999);
  EXPECT_EQ(w.wd_of(99999), 9999);
}

TEST(InotifyWatches, TheModelsNodeHoldsNoWatch) {
  // The wd moved out of Node: it must not have grown back (static_assert in tree_model.h).
  EXPECT_LE(sizeof(Node), 112u);
}

}  // namespace
}  // namespace lookout::core
