// Overlay mounts: writes made straight into a layer raise no event on the merged tree
// (docs/kernel-facts.md#overlay-layer-writes-are-silent). `--poll-overlay` polls such mounts; a
// reconciliation pass is the backstop that finds such misses on a kernel-watched tree and says so.
// Root only (mounts).
#include <sys/mount.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "support/consumer_state.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout {
namespace {

using testing::Recorder;
using testing::TempDir;

// An overlay of lower + upper at merged, unmounted (lazily if busy) whatever happens.
struct Overlay {
  TempDir t;
  bool mounted = false;
  std::string why_not;
  Overlay() {
    for (const char* d : {"lower", "upper", "work", "merged"}) testing::make_dirs(t / d);
    testing::make_dirs(t / "lower/sub");
    testing::write_file(t / "lower/sub/old", "1");
    std::string opts = "lowerdir=" + (t / "lower") + ",upperdir=" + (t / "upper") +
                       ",workdir=" + (t / "work");
    mounted = ::mount("overlay", (t / "merged").c_str(), "overlay", 0, opts.c_str()) == 0;
    if (!mounted) why_not = std::strerror(errno);
  }
  ~Overlay() {
    if (mounted && ::umount((t / "merged").c_str()) != 0) ::umount2((t / "merged").c_str(), MNT_DETACH);
  }
  std::string merged() const { return t / "merged"; }
  void age_fixture() const {
    struct stat st {};
    ::stat((t / "lower/sub/old").c_str(), &st);
    for (;;) {
      timespec now{};
      ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
      if (now.tv_sec > st.st_ctim.tv_sec + 1) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::string upper() const { return t / "upper"; }
};

bool has_event(const std::vector<Event>& evs, EventKind k, const std::string& path) {
  for (const auto& e : evs) {
    if (e.kind == k && e.path == path) return true;
  }
  return false;
}

LOOKOUT_TEST(Overlay, PollOverlaySeesWritesMadeToTheUpperLayer, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting an overlay needs root";
  Overlay o;
  if (!o.mounted) GTEST_SKIP() << "overlay mount failed: " << o.why_not;
  WatchOptions opt;
  opt.paths = {o.merged()};
  opt.poll_overlay = true;
  opt.poll_min_ms = 20;
  opt.poll_max_ms = 100;
  auto w = testing::start_watcher(opt);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().polled_dirs, 1u);
  Recorder r(*w);
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>& evs) {
    for (const auto& e : evs) {
      if (e.kind == EventKind::backend && e.path == o.merged() && e.reason.rfind("poll: overlay", 0) == 0) return true;
    }
    return false;
  })) << r.dump();
  // Straight into the upper layer: visible through merged, but no inotify event there.
  testing::write_file(o.upper() + "/direct", "x");
  EXPECT_TRUE(r.wait_for(EventKind::create, o.merged() + "/direct", {}, std::chrono::seconds(20))) << r.dump();
}

LOOKOUT_TEST(Overlay, ReconcilePassFindsWhatInotifyMissedAndIsSilentOtherwise, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting an overlay needs root";
  Overlay o;
  if (!o.mounted) GTEST_SKIP() << "overlay mount failed: " << o.why_not;
  // Files listed without a stat count as changed if stamped after the crawl began (minus a
  // clock tick): let the fixture's stamps age so a silent pass means silent.
  o.age_fixture();
  WatchOptions opt;
  opt.paths = {o.merged()};
  opt.reconcile_every_ms = 20;
  auto w = testing::start_watcher(opt);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().polled_dirs, 0u);  // inotify, as without --poll-overlay
  Recorder r(*w);
  // Quiet tree: passes run, nothing is said.
  std::uint64_t before = w->stats().rescans;
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>&) { return w->stats().rescans >= before + 3; }));
  EXPECT_FALSE(has_event(r.events(), EventKind::rescan, "")) << r.dump();
  EXPECT_EQ(w->stats().reconcile_differences, 0u);
  // A miss: the pass reports it, after a rescan marker naming why.
  // (Into the upper root: a directory that exists only in lower is cached by overlay.)
  testing::write_file(o.upper() + "/missed", "x");
  ASSERT_TRUE(r.wait_for(EventKind::create, o.merged() + "/missed")) << r.dump();
  bool marker_first = false;
  for (const auto& e : r.events()) {
    if (e.kind == EventKind::rescan) marker_first = e.reason == "reconcile";
    if (e.kind == EventKind::create && e.path == o.merged() + "/missed") break;
  }
  EXPECT_TRUE(marker_first) << r.dump();
  EXPECT_GE(w->stats().reconcile_differences, 1u);
}

}  // namespace
}  // namespace lookout
