// Kernel queue overflows through the binary, made certain rather than hoped for: lookout runs
// with a 64-event inotify queue (root only: the limit is global and lowered only while
// lookout starts) and is SIGSTOPped while the test makes more changes than fit.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

class Overflow : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to lower /proc/sys/fs/inotify/max_queued_events";
    if (::access("/proc/sys/fs/inotify/max_queued_events", W_OK) != 0) {
      GTEST_SKIP() << "/proc/sys/fs/inotify/max_queued_events is not writable here";
    }
    root = tmp / "root";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((root + "/noise").c_str(), 0755), 0);
  }

  void start() {
    consumer.emplace(root, snapshot_tree(root));
    std::string error;
    lk = start_with_small_queue({"watch", "-m", "-r", "--json", "-q", root}, 64, error);
    ASSERT_TRUE(lk) << error;
  }

  // Reads events until pred(the event) or the deadline; false on timeout/EOF.
  bool read_until(const std::function<bool(const JsonObject&)>& pred, milliseconds timeout) {
    auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      auto rec = lk->next_record('\n', std::chrono::duration_cast<milliseconds>(end - Clock::now()));
      if (!rec) return false;
      consumer->apply_line(*rec);
      auto o = parse_json_line(*rec);
      if (o && pred(*o)) return true;
    }
    return false;
  }

  // After a rescan: a cookie created while the rescan scans can be reported by the rescan's
  // own diff, before older differences (there is no end-of-rescan marker); a second cookie,
  // created after the first was seen, comes after all of them.
  bool sync_after_rescan() { return sync() && sync(); }

  bool sync(milliseconds timeout = milliseconds(10000)) {
    std::string cookie = root + "/cookie" + std::to_string(++cookies);
    if (!write_small_file(cookie, "")) return false;
    return read_until([&](const JsonObject& o) { return o.at("event") == "create" && json_path(o, "path") == cookie; },
                      timeout);
  }

  // Stops lookout, makes `n` noise changes (more than the queue holds), runs `lost` (changes
  // the kernel must drop), and lets lookout go on.
  void overflow_with(int n, const std::function<void()>& lost = {}) {
    lk->signal(SIGSTOP);
    // kill(2) returns before the group stop is done: a busy lookout on the other core may
    // still read a few dozen records, and then the queue does not overflow.
    ASSERT_TRUE(wait_stopped(lk->pid(), milliseconds(10000))) << lk->describe();
    for (int i = 0; i < n; ++i) {
      std::string f = root + "/noise/n" + std::to_string(noise++);
      write_small_file(f, "");
    }
    if (lost) lost();
    lk->signal(SIGCONT);
  }

  void expect_adds_up() {
    std::string diff = diff_trees(snapshot_tree(root), consumer->tree(), 20);
    EXPECT_EQ(diff, "") << "the events do not add up to the tree on disk\n" << lk->describe();
    EXPECT_TRUE(consumer->anomalies().empty()) << consumer->anomaly_report();
  }

  lookout::testing::TempDir tmp;
  std::string root;
  std::unique_ptr<LookoutProcess> lk;
  std::optional<ConsumerTree> consumer;
  int cookies = 0, noise = 0;
};

bool is_rescan(const JsonObject& o) { return o.at("event") == "rescan"; }

LOOKOUT_TEST_F(Overflow, LostChangesComeBackThroughARescan, LABELS(root, serial)) {
  ASSERT_EQ(::mkdir((root + "/a").c_str(), 0755), 0);
  ASSERT_TRUE(write_small_file(root + "/a/f", "x"));
  start();
  overflow_with(200, [&] {
    ASSERT_EQ(::rename((root + "/a").c_str(), (root + "/b").c_str()), 0);
    ASSERT_EQ(::mkdir((root + "/c").c_str(), 0755), 0);
    ASSERT_TRUE(write_small_file(root + "/c/g", "x"));
    ASSERT_EQ(::unlink((root + "/b/f").c_str()), 0);
  });
  ASSERT_TRUE(read_until(is_rescan, milliseconds(10000))) << "no rescan after an overflow\n" << lk->describe();
  ASSERT_TRUE(sync_after_rescan()) << lk->describe();
  expect_adds_up();
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(milliseconds(10000)), std::optional<int>(0)) << lk->describe();
}

// While a rescan waits out its storm backoff, lookout keeps applying kernel events to a model
// that misses what the overflow dropped. Here the dropped change is `mv A/B B`; the next one,
// `mv A B/A`, is legal on disk but, applied to the stale model, puts A inside its own child.
// lookout must neither hang nor lose track: the cookie comes and the trees match.
LOOKOUT_TEST_F(Overflow, RenameAppliedToAStaleModelDuringRescanBackoff, LABELS(root, serial)) {
  ASSERT_EQ(::mkdir((root + "/A").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/A/B").c_str(), 0755), 0);
  ASSERT_TRUE(write_small_file(root + "/A/B/f", "x"));
  start();
  // Overflows in quick succession grow the rescan backoff (0, 50, 100, 200 ms ...).
  for (int i = 0; i < 4; ++i) {
    overflow_with(100);
    ASSERT_TRUE(read_until(is_rescan, milliseconds(10000))) << "no rescan after overflow " << i << "\n"
                                                            << lk->describe();
    ASSERT_TRUE(sync_after_rescan()) << lk->describe();  // the rescan is over
  }
  const std::string first_noise = root + "/noise/n" + std::to_string(noise);
  overflow_with(100, [&] { ASSERT_EQ(::rename((root + "/A/B").c_str(), (root + "/B").c_str()), 0); });
  // Once lookout has read the full queue (its first noise event shows it did), the kernel
  // delivers again; lookout has not rescanned yet (backoff).
  ASSERT_TRUE(read_until([&](const JsonObject& o) { return json_path(o, "path") == first_noise; },
                         milliseconds(10000)))
      << lk->describe();
  ASSERT_EQ(::rename((root + "/A").c_str(), (root + "/B/A").c_str()), 0);
  // The last overflow's rescan is due after the backoff; once it ran, a cookie proves all.
  bool rescanned = read_until(is_rescan, milliseconds(10000));
  bool synced = rescanned && sync_after_rescan();
  std::string threads = synced ? "" : lk->describe_threads();
  EXPECT_TRUE(synced) << (rescanned ? "cookie" : "rescan") << " not reported within 10 s: lookout hangs or died\n"
                      << "threads:\n" << threads << lk->describe();
  if (synced) expect_adds_up();
  lk->signal(SIGTERM);
  auto code = lk->wait_exit(milliseconds(5000));
  EXPECT_EQ(code, std::optional<int>(0)) << (code ? "" : "threads:\n" + lk->describe_threads()) << lk->describe();
}

}  // namespace
}  // namespace lookout::e2e
