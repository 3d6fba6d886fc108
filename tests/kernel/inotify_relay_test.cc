// The inotify relay on a real instance: while armed its thread reads the kernel's queue into
// its own buffer, so a burst larger than max_queued_events arrives whole and in order; past
// its cap it stops reading and the kernel's queue overflows as before. The test paces its
// own writes by what the relay has read (with deadlines), never by time.
#include "backend/inotify_relay.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

#include "support/test_dirs.h"

namespace lookout::backend {
namespace {

using Clock = std::chrono::steady_clock;

// Names of one length ("f0000000"): every IN_CREATE record is 16 + 16 bytes.
constexpr std::size_t kRecordBytes = sizeof(inotify_event) + 16;

long max_queued_events() {
  std::ifstream f("/proc/sys/fs/inotify/max_queued_events");
  long v = -1;
  f >> v;
  return v;
}

bool wait_for(const std::function<bool()>& done, std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto end = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class InotifyRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_GE(::inotify_add_watch(fd, dir.path().c_str(), IN_CREATE), 0);
  }
  void TearDown() override {
    relay.reset();
    if (fd >= 0) ::close(fd);
  }

  void create(int n) { ASSERT_TRUE(lookout::testing::create_numbered_files(dir.path(), created, n)); }

  // Drains until every created file's record is out (or an overflow record came).
  void drain_all() {
    ASSERT_TRUE(wait_for([&] {
      auto got = relay->drain(out, 16384, buf);
      EXPECT_TRUE(got.has_value());
      if (!out.empty() && out.back().mask & IN_Q_OVERFLOW) return true;
      return out.size() >= static_cast<std::size_t>(created);
    })) << out.size() << " of " << created << " records";
  }

  void expect_all_in_order() {
    ASSERT_EQ(out.size(), static_cast<std::size_t>(created));
    for (std::size_t i = 0; i < out.size(); ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "f%07zu", i);
      ASSERT_EQ(out[i].name, name) << "record " << i << " mask " << out[i].mask;
    }
  }

  lookout::testing::TempDir dir;
  int fd = -1;
  int created = 0;
  std::unique_ptr<InotifyRelay> relay;
  std::vector<RawEvent> out;
  std::vector<char> buf = std::vector<char>(InotifyRelay::kChunkBytes);  // the backend's read buffer
};

TEST_F(InotifyRelayTest, AQuietQueueIsReadByTheLoopItself) {
  relay = InotifyRelay::start(fd, sys::real_inotify_calls());
  ASSERT_TRUE(relay);
  EXPECT_EQ(relay->poll_fd(), fd);
  create(3);
  auto got = relay->drain(out, 16384, buf);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 3u);
  EXPECT_FALSE(relay->armed());
  EXPECT_EQ(relay->poll_fd(), fd);
  expect_all_in_order();
}

TEST_F(InotifyRelayTest, ABurstLargerThanTheKernelQueueArrivesWholeAndInOrder) {
  const long queue = max_queued_events();
  if (queue <= 0 || queue > 200000) GTEST_SKIP() << "max_queued_events is " << queue;
  relay = InotifyRelay::start(fd, sys::real_inotify_calls());
  ASSERT_TRUE(relay);
  // More than one read takes: the loop's read arms the thread.
  create(3000);
  ASSERT_TRUE(relay->drain(out, 16384, buf));
  ASSERT_TRUE(relay->armed());
  EXPECT_NE(relay->poll_fd(), fd);
  // The loop is "busy" from here on: it takes nothing while twice the kernel's queue is
  // made, in steps the relay is seen to have read.
  const int total = static_cast<int>(queue) * 2 + 3000;
  while (created < total) {
    create(1000);
    const std::size_t unread = static_cast<std::size_t>(created) - out.size();
    ASSERT_TRUE(wait_for([&] { return relay->buffered_bytes() >= unread * kRecordBytes; }))
        << relay->buffered_bytes() << " bytes read of " << unread * kRecordBytes;
  }
  drain_all();
  expect_all_in_order();
  auto more = relay->drain(out, 16384, buf);  // the loop's own read finds the queue empty
  ASSERT_TRUE(more);
  EXPECT_EQ(*more, 0u);
  EXPECT_FALSE(relay->armed());
}

TEST_F(InotifyRelayTest, PastItsCapItStopsReadingAndTheKernelQueueOverflows) {
  const long queue = max_queued_events();
  if (queue <= 0 || queue > 200000) GTEST_SKIP() << "max_queued_events is " << queue;
  const std::size_t cap = 256 * 1024;
  relay = InotifyRelay::start(fd, sys::real_inotify_calls(), cap);
  ASSERT_TRUE(relay);
  create(3000);
  ASSERT_TRUE(relay->drain(out, 16384, buf));
  ASSERT_TRUE(relay->armed());
  create(static_cast<int>(cap / kRecordBytes));
  ASSERT_TRUE(wait_for([&] { return relay->buffered_bytes() >= cap / 2; }));
  // More than the kernel's queue and the whole ring hold together: the queue overflows.
  create(static_cast<int>(queue + cap / kRecordBytes) + 1000);
  EXPECT_LE(relay->buffered_bytes(), cap);
  drain_all();
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out.back().mask & IN_Q_OVERFLOW);
  EXPECT_LT(out.size(), static_cast<std::size_t>(created));
}

TEST_F(InotifyRelayTest, AfterStopWhatItHeldComesFirstThenTheQueuesRest) {
  relay = InotifyRelay::start(fd, sys::real_inotify_calls());
  ASSERT_TRUE(relay);
  create(3000);
  ASSERT_TRUE(relay->drain(out, 16384, buf));
  ASSERT_TRUE(relay->armed());
  create(2000);
  const std::size_t unread = static_cast<std::size_t>(created) - out.size();
  ASSERT_TRUE(wait_for([&] { return relay->buffered_bytes() >= unread * kRecordBytes; }));
  relay->stop();
  create(500);  // read by the loop itself now
  EXPECT_NE(relay->poll_fd(), fd);  // chunks wait: the eventfd says so
  drain_all();
  expect_all_in_order();
  EXPECT_EQ(relay->poll_fd(), fd);
}

}  // namespace
}  // namespace lookout::backend
