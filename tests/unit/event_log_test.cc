// The event log with cursors: several readers of one log, each with its own mask, filter,
// coalescing and lag limit. Pure: no kernel, no watcher (the loop's side of a hand-off is
// tested in tests/kernel/subscription_test.cc).
#include "core/event_log.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <thread>

namespace lookout::core {
namespace {

Event ev(EventKind k, const std::string& p) {
  Event e;
  e.kind = k;
  e.path = p;
  return e;
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

std::vector<Event> take_all(EventLog& log, Reader& r) {
  std::vector<Event> out;
  EXPECT_TRUE(log.try_take(r, out, SIZE_MAX));
  return out;
}

SubscribeOptions opts(bool coalesce = true, std::size_t max_behind = 100) {
  SubscribeOptions o;
  o.events = ~EventMask{0};
  o.coalesce = coalesce;
  o.max_behind = max_behind;
  return o;
}

TEST(EventLog, SequencesAndCoalescesIdenticalUntakenChanges) {
  EventLog log;
  auto r = log.add_reader(opts(), false);
  log.append(ev(EventKind::create, "/a"));
  log.append(ev(EventKind::modify, "/a"));
  log.append(ev(EventKind::modify, "/a"));  // merged with the untaken modify
  log.append(ev(EventKind::close_write, "/a"));
  log.append(ev(EventKind::modify, "/a"));  // not merged: a close_write came in between
  auto out = take_all(log, *r);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].seq, 1u);
  EXPECT_EQ(out[3].seq, 4u);
  EXPECT_EQ(out[3].kind, EventKind::modify);
  EXPECT_EQ(log.stats(*r).coalesced, 1u);
  // Once taken, a new modify is a new event, numbered on without a gap.
  log.append(ev(EventKind::modify, "/a"));
  out = take_all(log, *r);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, 5u);
}

// Only coalescable kinds are remembered per path (no map entry for the creates and
// close_writes that make up a burst); any other kind in between still keeps two changes apart.
TEST(EventLog, EveryOtherKindInBetweenKeepsChangesApart) {
  for (EventKind between : {EventKind::create, EventKind::remove, EventKind::rename,
                            EventKind::close_write, EventKind::open}) {
    EventLog log;
    auto r = log.add_reader(opts(), false);
    log.append(ev(EventKind::modify, "/a"));
    log.append(ev(EventKind::attrib, "/a"));
    log.append(ev(EventKind::attrib, "/a"));  // merged: the same as the untaken one
    log.append(ev(between, "/a"));
    log.append(ev(EventKind::attrib, "/a"));  // not merged: `between` came first
    log.append(ev(EventKind::attrib, "/b"));
    auto out = take_all(log, *r);
    ASSERT_EQ(out.size(), 5u) << static_cast<int>(between);
    EXPECT_EQ(out[2].kind, between);
    EXPECT_EQ(out[3].kind, EventKind::attrib);
    EXPECT_EQ(out[3].path, "/a");
    EXPECT_EQ(log.stats(*r).coalesced, 1u);
  }
}

TEST(EventLog, TwoReadersOneCoalescingOneNot) {
  EventLog log;
  auto run = log.add_reader(opts(true), false);
  auto stats = log.add_reader(opts(false), false);
  for (int i = 0; i < 10; ++i) log.append(ev(EventKind::modify, "/conf"));
  auto a = take_all(log, *run);
  auto b = take_all(log, *stats);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 10u) << "a non-coalescing reader sees every event";
  for (std::size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i].seq, i + 1);
  EXPECT_EQ(log.stored(), 0u) << "both have passed every event";
}

TEST(EventLog, MaskAndPathFilterArePerReader) {
  EventLog log;
  SubscribeOptions o = opts();
  o.events = event_bit(EventKind::create) | event_bit(EventKind::rename) | event_bit(EventKind::rescan);
  o.under = {"/srv/www"};
  auto r = log.add_reader(o, false);
  auto all = log.add_reader(opts(), false);
  log.append(ev(EventKind::create, "/srv/www/index.html"));
  log.append(ev(EventKind::modify, "/srv/www/index.html"));   // kind not wanted
  log.append(ev(EventKind::create, "/srv/wwwx/other"));       // a sibling with the same prefix
  Event mv = ev(EventKind::rename, "/srv/tmp/x");
  mv.from = "/srv/www/x";                                     // moved out: its old path is under
  log.append(mv);
  log.append(ev(EventKind::rescan, "/srv"));                  // a rescan above covers it
  log.append(ev(EventKind::rescan, "/srv/other"));            // not of its subtree
  auto got = take_all(log, *r);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].path, "/srv/www/index.html");
  EXPECT_EQ(got[1].kind, EventKind::rename);
  EXPECT_EQ(got[2].path, "/srv");
  EXPECT_EQ(got[2].seq, 3u) << "numbered in its own stream";
  EXPECT_EQ(take_all(log, *all).size(), 6u);
}

TEST(EventLog, ReadinessFdFollowsWhatCanBeTaken) {
  EventLog log;
  auto r = log.add_reader(opts(), false);
  EXPECT_FALSE(readable(r->ready_fd.get()));
  log.append(ev(EventKind::create, "/a"));
  EXPECT_TRUE(readable(r->ready_fd.get()));
  take_all(log, *r);
  EXPECT_FALSE(readable(r->ready_fd.get()));
  // Events it does not want do not wake it.
  SubscribeOptions o = opts();
  o.under = {"/b"};
  auto only_b = log.add_reader(o, false);
  log.append(ev(EventKind::create, "/a/x"));
  EXPECT_FALSE(readable(only_b->ready_fd.get()));
  log.close();
  EXPECT_TRUE(readable(only_b->ready_fd.get())) << "the end wakes every reader";
  std::vector<Event> out;
  EXPECT_FALSE(log.try_take(*only_b, out, SIZE_MAX));
}

// Inside a WakeBatch the loop wakes readers every kWakeEvery events and at the batch's end,
// not per event (a wake per event made the loop and a fast consumer run in lock step). No
// event is left behind a silent fd: the batch's end wakes whoever has something to take.
TEST(EventLog, AWakeBatchWakesEveryFewHundredEventsAndAtItsEnd) {
  EventLog log;
  auto r = log.add_reader(opts(/*coalesce=*/false, 1u << 20), false);
  {
    EventLog::WakeBatch batch(log);
    log.append(ev(EventKind::create, "/a0"));
    EXPECT_FALSE(readable(r->ready_fd.get())) << "one event inside a batch does not wake";
    for (std::size_t i = 1; i < EventLog::kWakeEvery; ++i)
      log.append(ev(EventKind::create, "/a" + std::to_string(i)));
    EXPECT_TRUE(readable(r->ready_fd.get())) << "kWakeEvery events wake the reader";
    EXPECT_EQ(take_all(log, *r).size(), EventLog::kWakeEvery);
    EXPECT_FALSE(readable(r->ready_fd.get()));
    log.append(ev(EventKind::create, "/b"));
    EXPECT_FALSE(readable(r->ready_fd.get()));
    {
      EventLog::WakeBatch nested(log);
      log.append(ev(EventKind::create, "/c"));
    }
    EXPECT_FALSE(readable(r->ready_fd.get())) << "a nested batch's end is not the end";
  }
  EXPECT_TRUE(readable(r->ready_fd.get())) << "the outer batch's end wakes the reader";
  EXPECT_EQ(take_all(log, *r).size(), 2u);
  log.append(ev(EventKind::create, "/d"));
  EXPECT_TRUE(readable(r->ready_fd.get())) << "outside a batch every event wakes";
}

// The readiness fd is written after the log's lock is released (a consumer woken under it
// would only block on it), so a consumer may take an event before its wake lands. No event may
// then be left untaken behind an fd that is not readable: a consumer that sleeps on the fd
// alone sees every event. The producer writes in bursts with pauses so the two threads meet
// at every point.
TEST(EventLog, AConsumerWaitingOnTheFdAloneSeesEveryEvent) {
  EventLog log;
  auto r = log.add_reader(opts(/*coalesce=*/false, 1u << 20), false);
  constexpr int kEvents = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kEvents; ++i) {
      log.append(ev(EventKind::modify, "/f" + std::to_string(i)));
      if (i % 7 == 0) std::this_thread::yield();
    }
  });
  int seen = 0;
  int stuck = 0;
  std::vector<Event> out;
  while (seen < kEvents) {
    pollfd p{r->ready_fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 2000) == 0) {
      // Not readable for 2 s: only right if everything was taken.
      out.clear();
      log.try_take(*r, out, SIZE_MAX);
      if (!out.empty()) ++stuck;
      seen += static_cast<int>(out.size());
      continue;
    }
    out.clear();
    log.try_take(*r, out, SIZE_MAX);
    seen += static_cast<int>(out.size());
  }
  producer.join();
  EXPECT_EQ(stuck, 0) << "events were waiting behind an fd that was not readable";
  EXPECT_EQ(seen, kEvents);
}

TEST(EventLog, PartialTakesKeepOrderAndNumbering) {
  EventLog log;
  auto r = log.add_reader(opts(false), false);
  for (int i = 0; i < 7; ++i) log.append(ev(EventKind::create, "/f" + std::to_string(i)));
  std::vector<Event> out;
  ASSERT_TRUE(log.try_take(*r, out, 3));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(readable(r->ready_fd.get())) << "more is waiting";
  ASSERT_TRUE(log.try_take(*r, out, 3));
  ASSERT_TRUE(log.try_take(*r, out, 3));
  ASSERT_EQ(out.size(), 7u);
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(out[i].path, "/f" + std::to_string(i));
    EXPECT_EQ(out[i].seq, i + 1);
  }
  EXPECT_FALSE(readable(r->ready_fd.get()));
}

TEST(EventLog, HoldingReaderPausesTheLoopAndSignalsResume) {
  EventLog log;
  auto r = log.add_reader(opts(true, 3), true);
  for (int i = 0; i < 3; ++i) log.append(ev(EventKind::create, "/f" + std::to_string(i)));
  EXPECT_TRUE(log.over_limit());
  EXPECT_FALSE(readable(log.resume_fd()));
  take_all(log, *r);
  EXPECT_FALSE(log.over_limit());
  EXPECT_TRUE(readable(log.resume_fd()));
  log.clear_resume();
  EXPECT_FALSE(readable(log.resume_fd()));
}

TEST(EventLog, SlowReaderIsCutOffWithoutHoldingTheOthers) {
  EventLog log;
  auto slow = log.add_reader(opts(false, 10), false);
  auto fast = log.add_reader(opts(false, 10), false);
  for (int i = 0; i < 1000; ++i) {
    log.append(ev(EventKind::create, "/t/d" + std::to_string(i / 100) + "/f" + std::to_string(i)));
    if (i % 5 == 4) {
      EXPECT_EQ(take_all(log, *fast).size(), 5u);
    }
    if (i == 20) {
      auto cut = log.take_cut_readers();  // the loop's end of step
      ASSERT_EQ(cut.size(), 1u);
      EXPECT_EQ(cut[0], slow);
    }
  }
  EXPECT_FALSE(log.over_limit()) << "a cut-off reader never pauses the loop";
  EXPECT_LE(log.stored(), 5u) << "the log does not keep what only the cut-off reader missed";
  EXPECT_EQ(log.stats(*slow).lagged, 1u);
  // It takes what it had before the cut (its limit plus the rest of that step)...
  auto before = take_all(log, *slow);
  EXPECT_EQ(before.size(), 21u);
  // ... then waits for the loop's hand-off, which must cover the whole missed stretch.
  auto req = log.requests();
  ASSERT_EQ(req.size(), 1u);
  Missed m = log.missed(*slow);
  EXPECT_TRUE(m.any);
  EXPECT_EQ(m.under, "/t");
  std::vector<Event> diff{ev(EventKind::rescan, "/t")};
  diff[0].reason = "lagged";
  log.deliver(*slow, diff);
  log.append(ev(EventKind::create, "/t/after"));
  auto after = take_all(log, *slow);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].kind, EventKind::rescan);
  EXPECT_EQ(after[1].path, "/t/after");
  EXPECT_EQ(after[1].seq, 23u) << "its stream stays numbered without a gap";
}

TEST(EventLog, MissedInPlaceChangesAreBoundedAndNamed) {
  EventLog log;
  auto r = log.add_reader(opts(true, 1), false);
  log.append(ev(EventKind::create, "/t/a"));
  log.append(ev(EventKind::create, "/t/b"));  // past its limit: cut
  log.take_cut_readers();
  log.append(ev(EventKind::attrib, "/t/a"));
  log.append(ev(EventKind::close_write, "/t/sub/c"));
  Missed m = log.missed(*r);
  EXPECT_EQ(m.under, "/t");
  EXPECT_EQ(m.changes.at("/t/a"), event_bit(EventKind::attrib));
  EXPECT_EQ(m.changes.at("/t/sub/c"), event_bit(EventKind::close_write));
  for (int i = 0; i < 5000; ++i) log.append(ev(EventKind::modify, "/t/m" + std::to_string(i)));
  m = log.missed(*r);
  EXPECT_TRUE(m.all_changed);
  EXPECT_TRUE(m.changes.empty());
}

TEST(EventLog, SparseReaderIsCompactedSoTheLogStaysSmall) {
  EventLog log;
  auto busy = log.add_reader(opts(true, 10), false);
  auto other = log.add_reader(opts(false, 100000), false);
  // One path modified over and over: the coalescing reader waits for one event, the other
  // reads everything; the log must not keep 100 000 events for the first one's sake.
  for (int i = 0; i < 100000; ++i) {
    log.append(ev(EventKind::modify, "/busy"));
    if (i % 1000 == 999) take_all(log, *other);
  }
  EXPECT_LT(log.stored(), 5000u);
  EXPECT_EQ(log.stats(*busy).lagged, 0u);
  auto got = take_all(log, *busy);
  EXPECT_EQ(got.size(), 1u);
}

TEST(EventLog, BlockingTakeWakesOnAppendAndOnClose) {
  EventLog log;
  auto r = log.add_reader(opts(), false);
  std::thread producer([&] {
    log.append(ev(EventKind::create, "/x"));
    log.close();
  });
  std::vector<Event> out;
  while (log.take(*r, out, -1)) {
  }
  producer.join();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path, "/x");
}

TEST(EventLog, JoiningReaderWaitsForItsListing) {
  EventLog log;
  SubscribeOptions o = opts();
  o.report_existing = true;
  auto r = log.add_reader(o, false);
  EXPECT_TRUE(readable(log.service_fd()));
  log.append(ev(EventKind::create, "/before-listing"));  // the listing will show it
  auto req = log.requests();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_FALSE(readable(log.service_fd()));
  log.deliver(*r, {ev(EventKind::exists, "/before-listing")});
  log.append(ev(EventKind::modify, "/before-listing"));
  auto got = take_all(log, *r);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].kind, EventKind::exists);
  EXPECT_EQ(got[1].kind, EventKind::modify);
}

TEST(CommonDir, IsTheDeepestSharedDirectory) {
  EXPECT_EQ(common_dir("/a/b/c", "/a/b/d"), "/a/b");
  EXPECT_EQ(common_dir("/a/bc", "/a/b"), "/a");
  EXPECT_EQ(common_dir("/a", "/a/b"), "/a");
  EXPECT_EQ(common_dir("/x", "/y"), "/");
  EXPECT_TRUE(path_at_or_below("/a/b", "/a"));
  EXPECT_FALSE(path_at_or_below("/ab", "/a"));
  EXPECT_TRUE(path_at_or_below("/ab", "/"));
}

}  // namespace
}  // namespace lookout::core
