// The shared front-end host: the watcher's loop on its own thread, the front end waiting in
// one poll on a signalfd and its subscriptions. Signals are sent to this thread only
// (pthread_kill), so no other thread of the test binary can take them.
#include "host/host.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <chrono>

#include "../support/test_dirs.h"

namespace lookout::testing {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Watcher> make_watcher(const std::string& root) {
  WatchOptions o;
  o.paths = {root};
  o.primary_consumer = false;
  auto w = Watcher::create(o);
  return w ? std::move(*w) : nullptr;
}

TEST(Host, WaitsOnSubscriptionsAndStopsOnASignal) {
  TempDir dir;
  auto w = make_watcher(dir.path());
  ASSERT_TRUE(w);
  auto sub = w->subscribe({});
  host::Host h(*w, {SIGUSR2});
  ASSERT_TRUE(h.start());
  write_file(dir / "f", "x");
  std::vector<Event> got;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    int fd = sub->fd();
    auto wake = h.wait(std::span<const int>(&fd, 1), 1000);
    EXPECT_EQ(wake.signal, 0);
    if (!wake.ready.empty()) sub->try_take(got);
    for (auto& e : got) seen |= e.kind == EventKind::create && e.path == dir / "f";
  }
  ASSERT_TRUE(seen);
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR2), 0);
  auto wake = h.wait({}, 20000);
  EXPECT_EQ(wake.signal, SIGUSR2);
  h.stop();
  EXPECT_TRUE(h.stopped());
  // The loop has closed the log: the subscription drains and ends.
  while (sub->try_take(got)) {
  }
  EXPECT_FALSE(sub->try_take(got));
}

TEST(Host, StartFailureIsReturnedNotThrown) {
  TempDir dir;
  auto w = make_watcher(dir / "missing");
  ASSERT_TRUE(w);
  host::Host h(*w, {SIGUSR2});
  auto r = h.start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::not_found);
  EXPECT_TRUE(h.stopped());
}

TEST(Host, SignalPendingAtStartInterruptsIt) {
  TempDir dir;
  for (int i = 0; i < 50; ++i) make_dirs(dir / ("d" + std::to_string(i)));
  auto w = make_watcher(dir.path());
  ASSERT_TRUE(w);
  host::Host h(*w, {SIGUSR2});
  // Already pending when start() begins: whether the crawl is stopped or had finished, the
  // host returns promptly and the loop ends.
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR2), 0);
  auto r = h.start();
  if (!r) EXPECT_EQ(r.error().code, ErrorCode::interrupted) << r.error().message;
  h.stop();
  EXPECT_TRUE(h.stopped());
}

}  // namespace
}  // namespace lookout::testing
