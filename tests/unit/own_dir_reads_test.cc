// OwnDirReads: the engine's own directory listings are told from other readers' by count,
// since inotify does not say who read a directory. On a fake filesystem and clock.
#include "core/own_dir_reads.h"

#include <fcntl.h>

#include <gtest/gtest.h>

#include "support/fake_clock.h"
#include "support/fake_fs.h"

namespace lookout::core {
namespace {

class OwnDirReadsTest : public ::testing::Test {
 protected:
  OwnDirReadsTest() { fs.mkdir("/t/d"); }
  // What the scanner does: open the directory, list it, close it.
  void list(const char* dir) {
    const int fd = reads.open_dir(dir, O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    reads.close(fd);
  }
  testing::FakeFs fs;
  testing::FakeClock clock;
  OwnDirReads reads{fs, clock};
};

TEST_F(OwnDirReadsTest, OneListingTakesItsOpenItsAccessesAndItsClose) {
  list("/t/d");
  EXPECT_TRUE(reads.own(EventKind::open, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::access, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::access, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::close_nowrite, "/t/d"));
  // Another program's `ls` after it: all of it reported.
  EXPECT_FALSE(reads.own(EventKind::open, "/t/d"));
  EXPECT_FALSE(reads.own(EventKind::access, "/t/d"));
  EXPECT_FALSE(reads.own(EventKind::close_nowrite, "/t/d"));
  EXPECT_EQ(reads.pending(), 0u);
}

TEST_F(OwnDirReadsTest, OtherDirectoriesAreNotAffected) {
  list("/t/d");
  EXPECT_FALSE(reads.own(EventKind::open, "/t"));
  EXPECT_FALSE(reads.own(EventKind::access, "/t"));
  EXPECT_TRUE(reads.own(EventKind::open, "/t/d"));
}

TEST_F(OwnDirReadsTest, TwoListingsTakeTwoOpens) {
  list("/t/d");
  list("/t/d");
  EXPECT_TRUE(reads.own(EventKind::open, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::close_nowrite, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::open, "/t/d"));
  EXPECT_TRUE(reads.own(EventKind::close_nowrite, "/t/d"));
  EXPECT_FALSE(reads.own(EventKind::open, "/t/d"));
}

TEST_F(OwnDirReadsTest, AFailedOpenIsNotNoted) {
  EXPECT_LT(reads.open_dir("/t/missing", O_RDONLY | O_DIRECTORY), 0);
  EXPECT_FALSE(reads.own(EventKind::open, "/t/missing"));
  EXPECT_EQ(reads.pending(), 0u);
}

// A listing of a directory that was not watched yet causes no records: it must not swallow
// a later reader's, and it must not be kept forever.
TEST_F(OwnDirReadsTest, AListingWithoutRecordsIsForgotten) {
  list("/t/d");
  EXPECT_EQ(reads.pending(), 1u);
  clock.advance(OwnDirReads::kForgetAfterMs + 1);
  EXPECT_FALSE(reads.own(EventKind::open, "/t/d"));
  EXPECT_EQ(reads.pending(), 0u);
  // Unlooked-at paths go at the next listing after as long.
  list("/t");
  clock.advance(OwnDirReads::kForgetAfterMs + 1);
  list("/t/d");
  EXPECT_EQ(reads.pending(), 1u);
}

// Its CLOSE_NOWRITE merged into another reader's identical record: the accesses after are
// reported again once it is given up.
TEST_F(OwnDirReadsTest, AReadWhoseCloseNeverCameEnds) {
  list("/t/d");
  EXPECT_TRUE(reads.own(EventKind::open, "/t/d"));
  clock.advance(OwnDirReads::kForgetAfterMs + 1);
  EXPECT_FALSE(reads.own(EventKind::access, "/t/d"));
}

TEST_F(OwnDirReadsTest, OtherCallsPassThrough) {
  fs.write("/t/d/f", 5);
  sys::FileStat st;
  EXPECT_EQ(reads.stat_follow("/t/d/f", st), 0);
  EXPECT_EQ(st.size, 5u);
  EXPECT_EQ(reads.pending(), 0u);
}

}  // namespace
}  // namespace lookout::core
