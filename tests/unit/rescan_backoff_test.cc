// The overflow rescan's storm backoff, driven by step() with a fake clock: no kernel events,
// no sleeps. The watcher has no roots, so a rescan reports only its `rescan` event.
#include <gtest/gtest.h>

#include "core/watcher_impl.h"
#include "support/fake_clock.h"
#include "support/fake_waiter.h"

namespace lookout {
namespace {

std::size_t rescans(Watcher::Impl& w) {
  std::vector<Event> out;
  w.log.take(*w.primary, out, 0);
  std::size_t n = 0;
  for (const Event& e : out) n += e.kind == EventKind::rescan;
  return n;
}

TEST(RescanBackoff, OverflowsInAStormWaitLongerEachTime) {
  testing::FakeClock clock;
  WatchOptions opt;
  opt.rescan_backoff_min_ms = 0;
  opt.rescan_backoff_max_ms = 2000;
  Watcher::Impl w(opt, core::WatcherSeams{&clock});

  // The first overflow in a long while is rescanned at once.
  w.schedule_rescan("overflow");
  EXPECT_TRUE(w.step(0));
  EXPECT_EQ(rescans(w), 1u);

  // The next ones, each within a second of the last rescan, back off: 50, 100, 200 ms.
  for (int backoff : {50, 100, 200}) {
    w.schedule_rescan("overflow");
    w.schedule_rescan("overflow");  // coalesced into the one pending
    clock.advance(backoff - 1);
    EXPECT_TRUE(w.step(0));
    EXPECT_EQ(rescans(w), 0u) << "before " << backoff << " ms";
    clock.advance(1);
    EXPECT_TRUE(w.step(0));
    EXPECT_EQ(rescans(w), 1u) << "at " << backoff << " ms";
  }

  // After a quiet spell the backoff starts over.
  clock.advance(5000);
  w.schedule_rescan("overflow");
  EXPECT_TRUE(w.step(0));
  EXPECT_EQ(rescans(w), 1u);
  EXPECT_EQ(w.stats.rescans, 5u);
}

TEST(RescanBackoff, TheBackoffIsCappedAtItsMaximum) {
  testing::FakeClock clock;
  WatchOptions opt;
  opt.rescan_backoff_max_ms = 300;
  Watcher::Impl w(opt, core::WatcherSeams{&clock});
  w.schedule_rescan("overflow");
  w.step(0);
  for (int i = 0; i < 6; ++i) {
    w.schedule_rescan("overflow");
    clock.advance(300);
    w.step(0);
  }
  rescans(w);
  w.schedule_rescan("overflow");
  clock.advance(299);
  w.step(0);
  EXPECT_EQ(rescans(w), 0u);
  clock.advance(1);
  w.step(0);
  EXPECT_EQ(rescans(w), 1u);
}

TEST(RescanBackoff, StepWaitsForTheBackedOffRescanAndRunsIt) {
  // step(-1) waits no longer than the next timed duty: on the fake waiter, that wait moves
  // the clock to the rescan's due time, and the same step runs it.
  testing::FakeClock clock;
  testing::FakeWaiter waiter(clock);
  WatchOptions opt;
  Watcher::Impl w(opt, core::WatcherSeams{&clock, nullptr, nullptr, &waiter});
  w.schedule_rescan("overflow");
  w.step(0);
  EXPECT_EQ(rescans(w), 1u);
  w.schedule_rescan("overflow");  // within a second: 50 ms of backoff
  const std::int64_t before = clock.monotonic_ms();
  EXPECT_TRUE(w.step(-1));
  EXPECT_EQ(clock.monotonic_ms() - before, 50);
  EXPECT_EQ(rescans(w), 1u);
}

}  // namespace
}  // namespace lookout
