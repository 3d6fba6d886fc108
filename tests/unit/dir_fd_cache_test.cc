// DirFdCache over the fake filesystem: a directory gets an fd at its second use, only while
// it is the object the model holds, the cache stays bounded, and a move in the model, a
// removal or clear() gives every fd back.
#include "core/dir_fd_cache.h"

#include <gtest/gtest.h>

#include "support/fake_fs.h"

namespace lookout::core {
namespace {

class DirFdCacheTest : public ::testing::Test {
 protected:
  DirFdCacheTest() {
    fs.mkdir("/w/a");
    fs.mkdir("/w/b");
    root = model.add_root("/w", stat("/w"));
    a = model.add(root, "a", stat("/w/a"), true);
    b = model.add(root, "b", stat("/w/b"), true);
  }
  sys::FileStat stat(const std::string& path) {
    sys::FileStat st;
    EXPECT_EQ(fs.stat_at(AT_FDCWD, path.c_str(), st), 0) << path;
    return st;
  }

  testing::FakeFs fs;
  TreeModel model;
  NodeId root, a, b;
  DirFdCache cache{fs};
};

TEST_F(DirFdCacheTest, ADirectoryGetsAnFdAtItsSecondUse) {
  EXPECT_EQ(cache.fd_for(model, a), -1) << "a lone use opens nothing";
  EXPECT_EQ(fs.open_fds(), 0u);
  const int fd = cache.fd_for(model, a);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fs.fd_path(fd), "/w/a");
  EXPECT_EQ(cache.fd_for(model, a), fd) << "kept for the next use";
  EXPECT_EQ(cache.open_fds(), 1u);
  cache.clear();
  EXPECT_EQ(fs.open_fds(), 0u);
  EXPECT_EQ(cache.fd_for(model, a), -1) << "noted again from scratch after clear()";
}

TEST_F(DirFdCacheTest, OnlyDirectoriesWithAKnownStat) {
  fs.write("/w/f");
  NodeId f = model.add(root, "f", stat("/w/f"), true);
  fs.mkdir("/w/u");
  NodeId u = model.add(root, "u", stat("/w/u"), false);  // listed, never statted
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cache.fd_for(model, f), -1);
    EXPECT_EQ(cache.fd_for(model, u), -1);
    EXPECT_EQ(cache.fd_for(model, kTopNode), -1);
  }
  EXPECT_EQ(fs.open_fds(), 0u);
}

TEST_F(DirFdCacheTest, StaysBounded) {
  std::vector<NodeId> dirs;
  for (std::size_t i = 0; i < 2 * DirFdCache::kCapacity; ++i) {
    std::string name = "d" + std::to_string(i);
    fs.mkdir("/w/" + name);
    dirs.push_back(model.add(root, name, stat("/w/" + name), true));
  }
  for (int round = 0; round < 3; ++round) {
    for (NodeId d : dirs) {
      cache.fd_for(model, d);
      cache.fd_for(model, d);
    }
  }
  EXPECT_LE(cache.open_fds(), DirFdCache::kCapacity);
  EXPECT_LE(fs.open_fds(), DirFdCache::kCapacity);
  // The most recent ones are the ones kept.
  EXPECT_GE(cache.fd_for(model, dirs.back()), 0);
  cache.clear();
  EXPECT_EQ(fs.open_fds(), 0u);
}

// The model may be stale: its path for a directory can lead to another object (the rename
// or removal saying so still queued). That object's fd is never handed out.
TEST_F(DirFdCacheTest, AnotherObjectAtTheModelsPathIsNotUsed) {
  fs.remove("/w/a");
  fs.mkdir("/w/a");  // a new inode where the model still holds the old one
  EXPECT_EQ(cache.fd_for(model, a), -1);
  EXPECT_EQ(cache.fd_for(model, a), -1);
  EXPECT_EQ(cache.fd_for(model, a), -1) << "the failed open is not retried within the step";
  EXPECT_EQ(fs.open_fds(), 0u);
}

// A move in the model (of this directory, an ancestor or anything else) empties the cache:
// no fd outlives the model path it was opened at.
TEST_F(DirFdCacheTest, AMoveInTheModelGivesEveryFdBack) {
  cache.fd_for(model, a);
  ASSERT_GE(cache.fd_for(model, a), 0);
  cache.fd_for(model, b);
  ASSERT_GE(cache.fd_for(model, b), 0);
  fs.rename("/w/a", "/w/c");
  ASSERT_TRUE(model.move(a, root, "c"));
  EXPECT_EQ(cache.fd_for(model, a), -1) << "noted anew at its new path";
  EXPECT_EQ(fs.open_fds(), 0u);
  const int fd = cache.fd_for(model, a);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fs.fd_path(fd), "/w/c");
}

// A removed node's id is reused: forget() drops its fd.
TEST_F(DirFdCacheTest, ForgetDropsARemovedDirectory) {
  cache.fd_for(model, a);
  ASSERT_GE(cache.fd_for(model, a), 0);
  cache.forget(a);
  EXPECT_EQ(fs.open_fds(), 0u);
  EXPECT_EQ(cache.fd_for(model, a), -1);
}

// A directory whose node was restatted onto another object (a directory renamed over it)
// is opened again, at its path, for the new object.
TEST_F(DirFdCacheTest, ANodeRestattedOntoAnotherObjectIsOpenedAgain) {
  cache.fd_for(model, a);
  const int old_fd = cache.fd_for(model, a);
  ASSERT_GE(old_fd, 0);
  fs.remove("/w/a");
  fs.mkdir("/w/a");
  model.set_stat(a, stat("/w/a"));
  EXPECT_EQ(cache.fd_for(model, a), -1);
  EXPECT_EQ(fs.open_fds(), 0u);
  const int fd = cache.fd_for(model, a);
  ASSERT_GE(fd, 0);
  sys::FileStat st;
  ASSERT_EQ(fs.fstat(fd, st), 0);
  EXPECT_EQ(st.ino, fs.ino("/w/a"));
}

TEST_F(DirFdCacheTest, DisabledHandsOutNothing) {
  cache.fd_for(model, a);
  ASSERT_GE(cache.fd_for(model, a), 0);
  cache.set_enabled(false);
  EXPECT_EQ(fs.open_fds(), 0u);
  EXPECT_EQ(cache.fd_for(model, a), -1);
  EXPECT_EQ(cache.fd_for(model, a), -1);
  EXPECT_EQ(fs.open_fds(), 0u);
}

}  // namespace
}  // namespace lookout::core
