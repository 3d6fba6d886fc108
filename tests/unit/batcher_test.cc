// The debounce/settle batcher on a fake clock and a fake stat: when a batch is due, what a
// file still being written does to it, and that max_wait bounds a stream of changes.
#include "batch/batcher.h"

#include <gtest/gtest.h>

#include <map>

#include "support/make_event.h"

namespace lookout::batch {
namespace {

using testing::ev;

std::vector<std::string> paths_of(const std::vector<Event>& batch) {
  std::vector<std::string> out;
  for (const Event& e : batch) out.push_back(std::string(event_kind_name(e.kind)) + " " + e.path);
  return out;
}

class BatcherTest : public ::testing::Test {
 protected:
  BatcherTest() : b(BatchOptions{100, 2000, 200}, [this](const std::string& p) -> std::optional<EntryStat> {
    auto it = files.find(p);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }) {}
  std::map<std::string, EntryStat> files;  // the fake filesystem: path -> stamps
  Batcher b;
};

TEST_F(BatcherTest, OneSaveIsOneBatchAfterTheDebounce) {
  b.add(ev(EventKind::create, "/w/f"), 0);
  b.add(ev(EventKind::modify, "/w/f"), 1);
  b.add(ev(EventKind::close_write, "/w/f"), 2);
  EXPECT_EQ(b.next_due_ms(), 102);
  EXPECT_TRUE(b.take_due(101).empty());
  EXPECT_EQ(paths_of(b.take_due(102)),
            (std::vector<std::string>{"create /w/f", "modify /w/f", "close_write /w/f"}));
  EXPECT_EQ(b.next_due_ms(), Batcher::kNever);
}

TEST_F(BatcherTest, AFileStillBeingWrittenIsNeverInABatch) {
  b.add(ev(EventKind::create, "/w/big"), 0);
  files["/w/big"] = EntryStat{1, 7, 100, 1};
  for (std::int64_t t = 0; t < 5000; t += 50) {  // written every 50 ms for 5 s: longer than max_wait
    files["/w/big"].size += 100;
    b.add(ev(EventKind::modify, "/w/big"), t);
    EXPECT_TRUE(b.take_due(t).empty()) << t;
  }
  b.add(ev(EventKind::close_write, "/w/big"), 5000);
  EXPECT_TRUE(b.take_due(5099).empty());
  EXPECT_EQ(b.take_due(5100).size(), 3u);  // create, modify, close_write: one batch, after the last byte
}

TEST_F(BatcherTest, AWriterThatNeverClosesCountsOnceItsStampsAreQuietForSettle) {
  files["/w/log"] = EntryStat{1, 9, 10, 1};
  b.add(ev(EventKind::modify, "/w/log"), 0);
  EXPECT_EQ(b.next_due_ms(), 200);
  files["/w/log"].size = 20;  // written again, no event yet (a polled filesystem)
  EXPECT_TRUE(b.take_due(200).empty());  // stamps moved: another settle
  EXPECT_EQ(b.writing(), 1u);
  EXPECT_TRUE(b.take_due(400).empty());  // quiet now: complete, then the debounce
  EXPECT_EQ(b.complete(), 1u);
  EXPECT_EQ(paths_of(b.take_due(500)), (std::vector<std::string>{"modify /w/log"}));
}

TEST_F(BatcherTest, MaxWaitBoundsAStreamOfChanges) {
  std::int64_t t = 0;
  std::vector<std::int64_t> batches;
  for (; t <= 5000; t += 50) {  // a new complete file every 50 ms: the debounce never elapses
    b.add(ev(EventKind::close_write, "/w/f" + std::to_string(t)), t);
    if (!b.take_due(t).empty()) batches.push_back(t);
  }
  EXPECT_EQ(batches, (std::vector<std::int64_t>{2000, 4050}));
}

TEST_F(BatcherTest, ARenameIntoPlaceCompletesAndCarriesWhatTheTempNameHad) {
  b.add(ev(EventKind::create, "/w/.f.tmp"), 0);
  b.add(ev(EventKind::modify, "/w/.f.tmp"), 1);
  Event mv = ev(EventKind::rename, "/w/f");
  mv.from = "/w/.f.tmp";
  b.add(mv, 2);
  EXPECT_EQ(b.writing(), 0u);
  EXPECT_EQ(paths_of(b.take_due(102)), (std::vector<std::string>{"rename /w/f"}));
}

TEST_F(BatcherTest, DirectoriesDeletesAndRescansAreCompleteAtOnce) {
  b.add(ev(EventKind::create, "/w/d", true), 0);
  b.add(ev(EventKind::remove, "/w/gone"), 0);
  b.add(ev(EventKind::rescan, ""), 0);
  EXPECT_EQ(b.complete(), 3u);
  EXPECT_EQ(b.take_due(100).size(), 3u);
}

TEST_F(BatcherTest, ARescanWaitsForTheFilesItReFoundToSettle) {
  b.add(ev(EventKind::close_write, "/w/before"), 0);  // read just before the overflow
  b.add(ev(EventKind::rescan, ""), 0);
  files["/w/found"] = EntryStat{1, 3, 1, 1};
  b.add(ev(EventKind::create, "/w/found"), 5);  // the rescan's differences: new files
  EXPECT_TRUE(b.take_due(100).empty());  // debounce over, but /w/found still settling
  EXPECT_EQ(b.next_due_ms(), 205);
  EXPECT_TRUE(b.take_due(205).empty());  // settled now: complete, then the debounce
  EXPECT_EQ(paths_of(b.take_due(305)),
            (std::vector<std::string>{"close_write /w/before", "rescan ", "create /w/found"}));
}

TEST_F(BatcherTest, TakeAllGivesWhatIsStillBeingWritten) {
  b.add(ev(EventKind::modify, "/w/f"), 0);
  EXPECT_TRUE(b.take_due(50).empty());
  EXPECT_EQ(b.take_all().size(), 1u);
  EXPECT_EQ(b.next_due_ms(), Batcher::kNever);
}

}  // namespace
}  // namespace lookout::batch
