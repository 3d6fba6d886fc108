// ingest's completion rules on a fake clock, a fake stat and a fake writer probe: a file is
// taken only after it was closed and stayed unchanged for settle, a close-and-reopen keeps it
// waiting, a rename is taken at once, a file never seen closed needs the writer probe (or a
// long quiet), a polled file needs quiet stamps only.
#include "ingest/completion_tracker.h"

#include <gtest/gtest.h>

#include <map>

#include "support/make_event.h"

namespace lookout::ingest {
namespace {

using testing::ev;

class IngestCompletion : public ::testing::Test {
 protected:
  IngestCompletion() { make(CompletionOptions{500, false, 5000}); }
  void make(CompletionOptions o) {
    t = std::make_unique<CompletionTracker>(
        o,
        [this](const std::string& p) -> std::optional<EntryStat> {
          auto it = files.find(p);
          if (it == files.end()) return std::nullopt;
          return it->second;
        },
        [this](const std::string& p) {
          auto it = writers.find(p);
          return it == writers.end() ? Writers::none : it->second;
        });
  }
  void write(const std::string& p, std::uint64_t size) {
    files[p] = EntryStat{1, 7, size, static_cast<std::int64_t>(size) * 1000};
  }
  std::vector<std::string> take(std::int64_t now) {
    std::vector<std::string> out;
    for (auto& r : t->take(now)) out.push_back(r.path);
    return out;
  }
  void add(EventKind k, const std::string& p, std::int64_t now, bool polled = false) {
    t->add(ev(k, p), polled, now, now * 1000000);
  }
  std::map<std::string, EntryStat> files;
  std::map<std::string, Writers> writers;
  std::unique_ptr<CompletionTracker> t;
  const std::vector<std::string> f{"/box/f"};
  const std::vector<std::string> none{};
};

TEST_F(IngestCompletion, AClosedFileIsTakenAfterSettleNotBefore) {
  write("/box/f", 3);
  add(EventKind::create, "/box/f", 0);
  add(EventKind::modify, "/box/f", 1);
  add(EventKind::close_write, "/box/f", 2);
  EXPECT_EQ(t->next_due_ms(), 502);
  EXPECT_EQ(take(501), none);
  EXPECT_EQ(take(502), f);
  EXPECT_EQ(t->waiting(), 0u);
  EXPECT_EQ(take(5000), none);  // once
}

TEST_F(IngestCompletion, CloseAndReopenWithinSettleKeepsWaiting) {
  write("/box/f", 3);
  add(EventKind::close_write, "/box/f", 0);
  // The writer reopens at 300 ms to append, and holds it open without writing for a while.
  writers["/box/f"] = Writers::some;
  EXPECT_EQ(take(500), none);
  write("/box/f", 6);
  add(EventKind::modify, "/box/f", 700);
  EXPECT_EQ(take(1300), none);  // written, not closed, still held
  writers.erase("/box/f");
  add(EventKind::close_write, "/box/f", 1400);
  EXPECT_EQ(take(1899), none);
  EXPECT_EQ(take(1900), f);
}

TEST_F(IngestCompletion, StampsThatMoveWithoutEventsRestartTheSettle) {
  write("/box/f", 3);
  add(EventKind::close_write, "/box/f", 0);
  write("/box/f", 9);  // a write lookout has not heard of yet
  EXPECT_EQ(take(500), none);
  EXPECT_EQ(take(999), none);
  EXPECT_EQ(take(1000), f);
}

TEST_F(IngestCompletion, ARenameIntoPlaceIsTakenAtOnceUnlessSettleMoves) {
  write("/box/f", 3);
  Event r = ev(EventKind::rename, "/box/f");
  r.from = "/box/f.tmp";
  t->add(r, false, 10, 0);
  EXPECT_EQ(t->next_due_ms(), 0);
  EXPECT_EQ(take(10), f);
  Event in = ev(EventKind::create, "/box/f");
  in.reason = "moved_in";
  t->add(in, false, 20, 0);
  EXPECT_EQ(take(20), f);

  make(CompletionOptions{500, true, 5000});
  t->add(r, false, 10, 0);
  EXPECT_EQ(take(10), none);
  EXPECT_EQ(take(510), f);
}

TEST_F(IngestCompletion, AModifyThatChangedNothingAfterARenameKeepsItComplete) {
  write("/box/f", 3);
  Event r = ev(EventKind::rename, "/box/f");
  r.from = "/box/f.tmp";
  r.stat = files["/box/f"];
  t->add(r, false, 10, 0);
  Event m = ev(EventKind::modify, "/box/f");
  m.stat = files["/box/f"];
  t->add(m, false, 11, 0);
  EXPECT_EQ(take(11), f);
  // A real write after it is a new version, judged again.
  t->add(r, false, 20, 0);
  write("/box/f", 4);
  m.stat = files["/box/f"];
  t->add(m, false, 21, 0);
  EXPECT_EQ(take(21), none);
  EXPECT_EQ(take(521), f);
}

TEST_F(IngestCompletion, WhatWasPendingUnderTheOldNameMovesWithTheRename) {
  write("/box/f.part", 3);
  write("/box/f", 3);
  add(EventKind::close_write, "/box/f.part", 0);
  Event r = ev(EventKind::rename, "/box/f");
  r.from = "/box/f.part";
  t->add(r, false, 100, 0);
  EXPECT_EQ(take(100), f);
  EXPECT_EQ(take(1000), none);  // the old name is forgotten
}

TEST_F(IngestCompletion, AFileNeverSeenClosedWaitsForItsWriter) {
  write("/box/f", 3);
  add(EventKind::create, "/box/f", 0);  // e.g. listed inside a new directory, or a hard link
  writers["/box/f"] = Writers::some;
  EXPECT_EQ(take(500), none);
  EXPECT_EQ(take(1000), none);
  writers["/box/f"] = Writers::none;  // the writer closed (its close_write was not seen)
  EXPECT_EQ(take(1500), f);
}

TEST_F(IngestCompletion, WithoutAWriterProbeANeverClosedFileNeedsTheLongQuiet) {
  write("/box/f", 3);
  writers["/box/f"] = Writers::unknown;
  add(EventKind::modify, "/box/f", 0);
  EXPECT_EQ(take(500), none);
  EXPECT_EQ(t->next_due_ms(), 5000);
  EXPECT_EQ(take(4999), none);
  EXPECT_EQ(take(5000), f);
  // A closed one needs only settle even then.
  add(EventKind::close_write, "/box/f", 6000);
  EXPECT_EQ(take(6500), f);
}

TEST_F(IngestCompletion, APolledFileIsCompleteWhenSizeAndMtimeStayPut) {
  write("/box/f", 3);
  writers["/box/f"] = Writers::unknown;  // e.g. NFS
  add(EventKind::create, "/box/f", 0, true);
  write("/box/f", 8);
  add(EventKind::modify, "/box/f", 400, true);
  EXPECT_EQ(take(899), none);
  EXPECT_EQ(take(900), f);
}

TEST_F(IngestCompletion, AttribWhileWritingDoesNotEndTheWrite) {
  write("/box/f", 3);
  writers["/box/f"] = Writers::unknown;
  add(EventKind::modify, "/box/f", 0);
  add(EventKind::attrib, "/box/f", 10);
  EXPECT_EQ(take(600), none);
  // On a finished file an attrib (touch) is a new version to judge after settle.
  add(EventKind::close_write, "/box/f", 700);
  EXPECT_EQ(take(1200), f);
  add(EventKind::attrib, "/box/f", 2000);
  EXPECT_EQ(take(2500), f);
}

TEST_F(IngestCompletion, DeletedBeforeCompleteIsForgottenAndSoIsAFileGoneAtItsSettle) {
  write("/box/f", 3);
  add(EventKind::close_write, "/box/f", 0);
  add(EventKind::remove, "/box/f", 100);
  EXPECT_EQ(take(1000), none);
  EXPECT_EQ(t->waiting(), 0u);
  add(EventKind::close_write, "/box/f", 2000);
  files.clear();  // deleted, its event not yet read
  EXPECT_EQ(take(2500), none);
  EXPECT_EQ(t->waiting(), 0u);
}

TEST_F(IngestCompletion, ARemovedDirectoryTakesWhatWasWaitingBelowIt) {
  write("/box/d/a", 1);
  write("/box/d/b", 1);
  write("/box/e", 1);
  add(EventKind::close_write, "/box/d/a", 0);
  add(EventKind::close_write, "/box/d/b", 0);
  add(EventKind::close_write, "/box/e", 0);
  t->add(ev(EventKind::remove, "/box/d", true), false, 10, 0);
  EXPECT_EQ(take(600), std::vector<std::string>{"/box/e"});
}

TEST_F(IngestCompletion, FilesFoundByListingAreTakenAfterSettleInOrder) {
  for (const char* p : {"/box/1", "/box/2", "/box/3"}) write(p, 1);
  for (const char* p : {"/box/1", "/box/2", "/box/3"}) t->found(p, 0, 0);
  EXPECT_EQ(take(500), (std::vector<std::string>{"/box/1", "/box/2", "/box/3"}));
}

TEST_F(IngestCompletion, FirstSeenIsTheFirstEventOfThisVersion) {
  write("/box/f", 1);
  t->add(ev(EventKind::create, "/box/f"), false, 0, 111);
  t->add(ev(EventKind::close_write, "/box/f"), false, 5, 222);
  auto r = t->take(505);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first_seen_ns, 111);
}

}  // namespace
}  // namespace lookout::ingest
