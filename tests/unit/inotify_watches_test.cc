#include "core/inotify_watches.h"

#include <gtest/gtest.h>

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

TEST(InotifyWatches, TheModelsNodeHoldsNoWatch) {
  // The wd moved out of Node: it must not have grown back (static_assert in tree_model.h).
  EXPECT_LE(sizeof(Node), 112u);
}

}  // namespace
}  // namespace lookout::core
