// Auto mode per mount: a FUSE submount inside an inotify-watched tree is polled, so changes
// made behind the FUSE daemon (which inotify never sees,
// docs/kernel-facts.md#fuse-out-of-band-changes-are-silent) are still reported.
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout {
namespace {

LOOKOUT_TEST(AutoBackend, FuseSubmountIsPolledAndSeesOutOfBandWrites, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount bindfs";
  if (testing::sh("command -v bindfs >/dev/null 2>&1") != 0) GTEST_SKIP() << "bindfs is not installed";
  testing::TempDir t, src;
  testing::make_dirs(t / "fuse");
  testing::make_dirs(src / "sub");
  if (testing::sh("bindfs " + src.path() + " " + (t / "fuse")) != 0) GTEST_SKIP() << "bindfs mount failed";
  struct Unmount {
    std::string p;
    ~Unmount() { testing::sh("fusermount -u " + p + " 2>/dev/null || umount -l " + p + " 2>/dev/null"); }
  } guard{t / "fuse"};
  WatchOptions o;
  o.paths = {t.path()};
  o.poll_min_ms = 100;
  o.poll_max_ms = 300;
  std::string said;
  o.on_diagnostic = [&](const Error& e, bool) { said += e.message + "\n"; };
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().polled_dirs, 1u) << said;
  EXPECT_NE(said.find("poll for " + (t / "fuse") + ": FUSE"), std::string::npos) << said;
  testing::Recorder r(*w);
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>& evs) {
    for (const auto& e : evs) {
      if (e.kind == EventKind::backend && e.path == t / "fuse" && e.reason.rfind("poll: FUSE", 0) == 0) return true;
    }
    return false;
  })) << r.dump();
  // Written to the source directly: the FUSE mount raises no inotify event for this.
  testing::write_file(src / "sub/direct", "x");
  EXPECT_TRUE(r.wait_for(EventKind::create, t / "fuse/sub/direct", {}, std::chrono::seconds(20))) << r.dump();
  // The rest of the tree is still on inotify.
  testing::write_file(t / "local", "x");
  EXPECT_TRUE(r.wait_for(EventKind::create, t / "local")) << r.dump();
}

}  // namespace
}  // namespace lookout
