// The polling backend without a filesystem or real time: a FakeFs holds the tree, and a
// FakeWaiter moves a FakeClock by each step's timeout, so step(-1) runs exactly the pass
// that is due and the adaptive interval can be read off the clock.
#include <gtest/gtest.h>

#include "backend/poll_tracker.h"

#include "core/watcher_impl.h"
#include "support/fake_clock.h"
#include "support/fake_fs.h"
#include "support/fake_waiter.h"

namespace lookout {
namespace {

struct Seen {
  EventKind kind;
  std::string path;
  bool operator==(const Seen& o) const { return kind == o.kind && path == o.path; }
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << event_kind_name(s.kind) << " " << s.path;
}

class PollTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs.mkdir("/w/d");
    fs.write("/w/d/f");
    opt.backend = BackendChoice::poll;
    opt.paths = {"/w"};
    opt.poll_min_ms = 250;
    opt.poll_max_ms = 2000;
    opt.poll_full_every_ms = 30000;
    w = std::make_unique<Watcher::Impl>(opt, core::WatcherSeams{&clock, &fs, nullptr, &waiter});
    auto r = w->start();
    ASSERT_TRUE(r) << r.error().message;
    take();
  }
  // One step that waits for the next pass: how long it waited, and what it reported.
  std::int64_t step() {
    std::int64_t before = clock.monotonic_ms();
    EXPECT_TRUE(w->step(-1));
    return clock.monotonic_ms() - before;
  }
  std::vector<Seen> take() {
    std::vector<Event> out;
    w->log.take(*w->primary, out, 0);
    std::vector<Seen> seen;
    for (const Event& e : out) {
      if (e.kind != EventKind::backend) seen.push_back(Seen{e.kind, e.path});
    }
    return seen;
  }

  testing::FakeClock clock;
  testing::FakeFs fs;
  testing::FakeWaiter waiter{clock};
  WatchOptions opt;
  std::unique_ptr<Watcher::Impl> w;
};

TEST_F(PollTrackerTest, TheIntervalDoublesWhileQuietAndShrinksAfterAChange) {
  EXPECT_EQ(w->poller.size(), 1u);
  EXPECT_EQ(step(), 250);  // the first pass, poll_min_ms after start
  EXPECT_EQ(step(), 500);
  EXPECT_EQ(step(), 1000);
  EXPECT_EQ(step(), 2000);
  EXPECT_EQ(step(), 2000);  // capped at poll_max_ms
  EXPECT_TRUE(take().empty());
  EXPECT_EQ(w->stats.polls, 5u);

  fs.write("/w/d/new");
  EXPECT_EQ(step(), 2000);  // seen at the next pass...
  EXPECT_EQ(take(), (std::vector<Seen>{{EventKind::create, "/w/d/new"}}));
  EXPECT_EQ(step(), 250);  // ...after which passes come quickly again
}

TEST_F(PollTrackerTest, PrunedPassesFindStructureAndFullPassesInPlaceWrites) {
  fs.rename("/w/d/f", "/w/g");
  fs.mkdir("/w/e");
  step();
  EXPECT_EQ(take(), (std::vector<Seen>{{EventKind::rename, "/w/g"}, {EventKind::create, "/w/e"}}));

  // A write in place leaves the directory's stamps alone: only a full pass (every
  // poll_full_every_ms) stats the file itself.
  fs.write("/w/g", 42);
  std::int64_t waited = 0;
  std::vector<Seen> seen;
  while (seen.empty() && waited <= opt.poll_full_every_ms + opt.poll_max_ms) {
    waited += step();
    seen = take();
  }
  EXPECT_EQ(seen, (std::vector<Seen>{{EventKind::modify, "/w/g"}}));
  EXPECT_GE(waited, opt.poll_full_every_ms - 2 * opt.poll_max_ms);
  EXPECT_EQ(fs.open_fds(), 0u);
}

// Without a fixed interval, full passes may take 1% of the time: a cheap one (a tree of a
// few files, here on a fake filesystem) is repeated every poll_min_ms, so an in-place write
// is seen at the next pass even while the tree is quiet and pruned passes back off.
TEST_F(PollTrackerTest, WithoutAFixedIntervalACheapTreeIsFullyPolledEveryPollMin) {
  opt.poll_full_every_ms = 0;
  w = std::make_unique<Watcher::Impl>(opt, core::WatcherSeams{&clock, &fs, nullptr, &waiter});
  ASSERT_TRUE(w->start());
  take();
  for (int i = 0; i < 8; ++i) step();  // quiet: the pruned interval backs off to poll_max
  EXPECT_TRUE(take().empty());
  fs.write("/w/d/f", 42);
  const std::int64_t waited = step();
  EXPECT_EQ(take(), (std::vector<Seen>{{EventKind::modify, "/w/d/f"}}));
  EXPECT_LE(waited, opt.poll_min_ms);
}

TEST(FullPassInterval, OnePercentOfTheTimeBetweenPollMinAndThirtySeconds) {
  EXPECT_EQ(backend::full_pass_interval_ms(0, 250), 250);         // nothing measured
  EXPECT_EQ(backend::full_pass_interval_ms(2000, 250), 250);      // 2 ms: 200 ms, not below poll_min
  EXPECT_EQ(backend::full_pass_interval_ms(5000, 250), 500);      // 5 ms: every 0.5 s
  EXPECT_EQ(backend::full_pass_interval_ms(100000, 250), 10000);  // 100 ms: every 10 s
  EXPECT_EQ(backend::full_pass_interval_ms(1000000, 250), 30000); // 1 s: never rarer than 30 s
  EXPECT_EQ(backend::full_pass_interval_ms(1000, 60000), 60000);  // poll_min above it wins
}

TEST(FullPassInterval, FollowsTheCheapestOfTheLastFewPasses) {
  backend::RecentCosts costs;
  EXPECT_EQ(costs.cheapest(), 0);
  costs.add(9000);
  EXPECT_EQ(costs.cheapest(), 9000);
  costs.add(7000);
  costs.add(11000);  // one slow pass: the interval stays at the cheap one's
  EXPECT_EQ(costs.cheapest(), 7000);
  // A tree that grew: every pass dearer, and the old cheap one ages out.
  for (std::size_t i = 0; i < backend::RecentCosts::kKept; ++i) costs.add(20000 + i);
  EXPECT_EQ(costs.cheapest(), 20000);
}

TEST_F(PollTrackerTest, TheRootReplacedIsReportedAndEndsWatching) {
  fs.remove("/w");
  fs.mkdir("/w");  // a new inode at the same path
  EXPECT_FALSE(w->step(-1));
  EXPECT_EQ(take(), (std::vector<Seen>{{EventKind::remove, "/w/d/f"}, {EventKind::remove, "/w/d"},
                                      {EventKind::remove, "/w"}}));
  EXPECT_EQ(w->end_error.code, ErrorCode::root_gone);
}

}  // namespace
}  // namespace lookout
