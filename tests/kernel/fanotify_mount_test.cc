// fanotify has no IN_UNMOUNT: lookout notices through the mount table instead. An unmounted
// submount inside a fanotify-watched tree is reported (unmount, then the differences), and an
// unmounted root ends watching as with inotify. Root only.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "support/consumer_state.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout {
namespace {

using testing::Recorder;
using testing::TempDir;

struct Tmpfs {
  std::string at;
  bool mounted = false;
  explicit Tmpfs(std::string path) : at(std::move(path)) {
    testing::make_dirs(at);
    mounted = ::mount("lookout-test", at.c_str(), "tmpfs", 0, "size=8m") == 0;
  }
  bool unmount() {
    if (mounted && ::umount(at.c_str()) == 0) mounted = false;
    return !mounted;
  }
  ~Tmpfs() {
    if (mounted && ::umount(at.c_str()) != 0) ::umount2(at.c_str(), MNT_DETACH);
  }
};

WatchOptions fanotify_opts(const std::string& root) {
  WatchOptions o;
  o.paths = {root};
  o.backend = BackendChoice::fanotify;
  return o;
}

LOOKOUT_TEST(FanotifyMounts, UnmountedSubmountIsReportedAndTheTreeAddsUp, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting and fanotify marks need root";
  TempDir t;
  testing::write_file(t / "keep", "1");
  Tmpfs m(t / "mnt");
  if (!m.mounted) GTEST_SKIP() << "tmpfs mount failed: " << std::strerror(errno);
  testing::make_dirs(t / "mnt/d");
  testing::write_file(t / "mnt/d/f", "x");
  auto consumer = testing::snapshot(t.path());
  auto w = testing::start_watcher(fanotify_opts(t.path()));
  if (!w) GTEST_SKIP() << "fanotify not usable here";
  Recorder r(*w);
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>&) { return !w->stats().crawling; }));
  EXPECT_EQ(w->stats().fanotify_marks, 2u) << r.dump();  // /tmp's filesystem and the tmpfs
  testing::write_file(t / "mnt/d/live", "y");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "mnt/d/live")) << r.dump();
  ASSERT_TRUE(m.unmount());
  ASSERT_TRUE(r.wait_for(EventKind::unmount, t / "mnt")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie"));
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>&) { return w->stats().rescans >= 1; }));
  ASSERT_TRUE(r.sync(t / "cookie2"));
  for (const auto& e : r.events()) testing::apply_event(consumer, e);
  EXPECT_EQ(testing::diff_states(testing::snapshot(t.path()), consumer), "") << r.dump();
}

LOOKOUT_TEST(FanotifyMounts, UnmountedRootEndsWatching, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting and fanotify marks need root";
  TempDir t;
  Tmpfs m(t / "root");
  if (!m.mounted) GTEST_SKIP() << "tmpfs mount failed: " << std::strerror(errno);
  auto w = testing::start_watcher(fanotify_opts(t / "root"));
  if (!w) GTEST_SKIP() << "fanotify not usable here";
  Recorder r(*w);
  ASSERT_TRUE(m.unmount());
  ASSERT_TRUE(r.wait_for(EventKind::unmount, t / "root")) << r.dump();
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>&) { return !w->step(0); })) << r.dump();
  EXPECT_EQ(w->end_reason().code, ErrorCode::root_gone);
}

LOOKOUT_TEST(FanotifyMounts, TwoFilesystemsWithTheSameHandlesAreToldApart, LABELS(root)) {
  // Two fresh tmpfs number their inodes alike (measured: d/e/f is inode 4 in both), so the
  // same directories in each have handles that differ only in their generation, and keys
  // whose fsid (stored once per filesystem by HandleIndex) differs: events in one must never
  // be reported in the other.
  if (!testing::is_root_user()) GTEST_SKIP() << "mounting and fanotify marks need root";
  TempDir t;
  Tmpfs a(t / "a");
  Tmpfs b(t / "b");
  if (!a.mounted || !b.mounted) GTEST_SKIP() << "tmpfs mount failed: " << std::strerror(errno);
  for (const std::string m : {"a", "b"}) testing::make_dirs(t / (m + "/d/e/f"));
  auto consumer = testing::snapshot(t.path());
  auto w = testing::start_watcher(fanotify_opts(t.path()));
  if (!w) GTEST_SKIP() << "fanotify not usable here";
  Recorder r(*w);
  ASSERT_TRUE(r.wait_until([&](const std::vector<Event>&) { return !w->stats().crawling; }));
  EXPECT_EQ(w->stats().fanotify_marks, 3u) << r.dump();
  testing::write_file(t / "b/d/e/f/x", "1");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "b/d/e/f/x")) << r.dump();
  testing::write_file(t / "a/d/e/f/y", "1");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "a/d/e/f/y")) << r.dump();
  testing::make_dirs(t / "a/d/g");
  ASSERT_EQ(::rename((t / "a/d/e").c_str(), (t / "a/d/g/e").c_str()), 0);
  testing::write_file(t / "b/d/e/f/z", "1");
  testing::write_file(t / "a/d/g/e/f/w", "1");
  ASSERT_TRUE(r.wait_for(EventKind::create, t / "a/d/g/e/f/w")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie"));
  for (const auto& e : r.events()) testing::apply_event(consumer, e);
  EXPECT_EQ(testing::diff_states(testing::snapshot(t.path()), consumer), "") << r.dump();
}

}  // namespace
}  // namespace lookout
