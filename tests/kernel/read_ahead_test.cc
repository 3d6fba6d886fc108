// The engine with its inotify relay: a consumer that stops taking makes the loop pause
// (max_pending), and the relay reads the kernel's queue ahead meanwhile, so a burst of twice
// the queue's size made while the loop is paused comes out whole, without an overflow or a
// rescan. The test paces its writes by what the engine has read (stats, with deadlines).
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "lookout/watcher.h"
#include "support/test_dirs.h"

namespace lookout {
namespace {

using Clock = std::chrono::steady_clock;

long max_queued_events() {
  std::ifstream f("/proc/sys/fs/inotify/max_queued_events");
  long v = -1;
  f >> v;
  return v;
}

TEST(ReadAhead, ABurstWhileTheConsumerIsBehindIsReadAheadWithoutAnOverflow) {
  const long queue = max_queued_events();
  if (queue <= 0 || queue > 200000) GTEST_SKIP() << "max_queued_events is " << queue;
  lookout::testing::TempDir dir;
  WatchOptions o;
  o.paths = {dir.path()};
  o.backend = BackendChoice::inotify;
  o.events = event_bit(EventKind::create);
  o.max_pending = 64;
  auto w = Watcher::create(o);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->start());
  Watcher& watcher = **w;

  int created = 0;
  auto create = [&](int n) { ASSERT_TRUE(lookout::testing::create_numbered_files(dir.path(), created, n)); };
  // Every record is an IN_CREATE of an 8-byte name: 32 bytes. Waits until the engine holds
  // every record made so far, as events or read ahead.
  auto wait_read = [&] {
    const auto end = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      watcher.step(0);
      const WatcherStats s = watcher.stats();
      if (s.events + s.read_ahead_bytes / 32 >= static_cast<std::size_t>(created)) return true;
      if (Clock::now() > end) {
        ADD_FAILURE() << s.events << " events and " << s.read_ahead_bytes << " bytes read ahead of "
                      << created << " creates";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  // Nothing is taken: past 64 events the loop pauses.
  create(200);
  ASSERT_TRUE(wait_read());
  ASSERT_GT(watcher.stats().paused, 0u);
  while (created < 2 * queue + 1000) {
    create(1000);
    ASSERT_TRUE(wait_read());
  }
  EXPECT_GT(watcher.stats().read_ahead_bytes, static_cast<std::size_t>(queue) * 32);

  std::set<std::string> seen;
  std::vector<Event> batch;
  const auto end = Clock::now() + std::chrono::seconds(60);
  while (seen.size() < static_cast<std::size_t>(created) && Clock::now() < end) {
    watcher.step(0);
    batch.clear();
    watcher.next_batch(batch, 0);
    for (const Event& e : batch) {
      EXPECT_NE(e.kind, EventKind::rescan) << e.path;
      if (e.kind == EventKind::create) EXPECT_TRUE(seen.insert(e.path).second) << "twice: " << e.path;
    }
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(created));
  EXPECT_EQ(watcher.stats().overflows, 0u);
  EXPECT_EQ(watcher.stats().rescans, 0u);
}

}  // namespace
}  // namespace lookout
