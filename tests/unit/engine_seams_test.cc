// What the engine asks of the filesystem beyond stat and getdents goes through sys::Fs too:
// --checksum's reads, the working directory a relative root is resolved against, and the
// mount table and statfs that decide where to poll. A FakeFs answers all of them here, so
// none of these tests touches a real file. And a limit the engine runs into is reported as
// data: the code and the limit's value, for a front end to word.
#include <gtest/gtest.h>
#include <sys/inotify.h>

#include "core/fs_kind.h"
#include "core/watcher_impl.h"
#include "sys/proc_limits.h"
#include "support/fake_clock.h"
#include "support/fake_fanotify.h"
#include "support/fake_fs.h"
#include "support/fake_inotify.h"
#include "support/fake_waiter.h"

namespace lookout {
namespace {

using testing::FakeClock;
using testing::FakeFanotify;
using testing::FakeFs;
using testing::FakeInotify;
using testing::FakeWaiter;

class FsSeam : public ::testing::Test {
 protected:
  void start() {
    w = std::make_unique<Watcher::Impl>(opt, core::WatcherSeams{&clock, &fs, &kernel, &waiter});
    auto r = w->start();
    ASSERT_TRUE(r) << r.error().message;
  }
  // Every event up to now, as "kind path" (backend decisions with their reason).
  std::vector<std::string> take() {
    std::vector<Event> out;
    w->log.take(*w->primary, out, 0);
    std::vector<std::string> seen;
    for (const Event& e : out) {
      std::string s = std::string(event_kind_name(e.kind)) + " " + e.path;
      if (e.kind == EventKind::backend) s += " " + e.reason.substr(0, e.reason.find(':'));
      seen.push_back(s);
    }
    return seen;
  }
  // Polling steps until one reports something or `max_ms` of fake time have passed.
  std::vector<std::string> poll_until_reported(std::int64_t max_ms) {
    const std::int64_t until = clock.monotonic_ms() + max_ms;
    std::vector<std::string> seen;
    while (seen.empty() && clock.monotonic_ms() <= until) {
      EXPECT_TRUE(w->step(-1));
      seen = take();
    }
    return seen;
  }

  FakeClock clock;
  FakeFs fs;
  FakeInotify kernel{fs};
  FakeWaiter waiter{clock};
  WatchOptions opt;
  std::unique_ptr<Watcher::Impl> w;
};

TEST_F(FsSeam, ChecksumReadsTheFilesThroughTheSeam) {
  fs.mkdir("/w");
  fs.write("/w/f", 100);
  opt.backend = BackendChoice::poll;
  opt.paths = {"/w"};
  opt.checksum = true;
  opt.poll_min_ms = 100;
  opt.poll_max_ms = 100;
  opt.poll_full_every_ms = 100;
  start();
  take();
  EXPECT_EQ(w->stats.hashed_files, 1u);
  EXPECT_EQ(w->stats.hashed_bytes, 100u);

  // Same size, same mtime, other bytes: only the content tells (ctime alone says attrib).
  fs.rewrite_keeping_mtime("/w/f");
  EXPECT_EQ(poll_until_reported(1000), (std::vector<std::string>{"modify /w/f"}));
  EXPECT_EQ(w->stats.hashed_files, 2u);
  EXPECT_EQ(fs.open_fds(), 0u);
}

TEST_F(FsSeam, WithoutChecksumTheSameRewriteIsOnlyAnAttrib) {
  fs.mkdir("/w");
  fs.write("/w/f", 100);
  opt.backend = BackendChoice::poll;
  opt.paths = {"/w"};
  opt.poll_min_ms = 100;
  opt.poll_max_ms = 100;
  opt.poll_full_every_ms = 100;
  start();
  take();
  fs.rewrite_keeping_mtime("/w/f");
  EXPECT_EQ(poll_until_reported(1000), (std::vector<std::string>{"attrib /w/f"}));
  EXPECT_EQ(w->stats.hashed_files, 0u);
}

TEST_F(FsSeam, ARelativeRootIsResolvedAgainstTheSeamsWorkingDirectory) {
  fs.mkdir("/home/u/src");
  fs.set_cwd("/home/u");
  opt.backend = BackendChoice::inotify;
  opt.paths = {"./src"};
  start();
  EXPECT_EQ(w->model.path(w->model.find_path("/home/u/src")), "/home/u/src");
  EXPECT_GE(kernel.wd("/home/u/src"), 1);
}

TEST_F(FsSeam, AMountTheTableSaysIsRemoteIsPolledInAutoMode) {
  fs.mkdir("/w/local");
  fs.mkdir("/w/net/d");
  fs.set_dev("/w/net", 2);
  fs.set_dev("/w/net/d", 2);
  fs.set_magic(2, fs_magic::kNfs);
  sys::MountEntry root;
  root.mount_id = 1;
  root.mount_point = "/";
  root.fstype = "tmpfs";
  sys::MountEntry net;
  net.mount_id = 2;
  net.parent_id = 1;
  net.mount_point = "/w/net";
  net.fstype = "nfs4";
  net.source = "server:/export";
  fs.set_mounts({root, net});
  opt.backend = BackendChoice::auto_select;
  opt.paths = {"/w"};
  start();
  std::vector<std::string> seen = take();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "backend /w/net poll"), seen.end())
      << ::testing::PrintToString(seen);
  EXPECT_GE(kernel.wd("/w/local"), 1);
  EXPECT_EQ(kernel.wd("/w/net"), -1);  // polled: no inotify watch would see the server's changes
  EXPECT_TRUE(w->under_polled(w->model.find_path("/w/net/d")));

  // classify_path asks the same seam: statfs magic and the mount holding the path.
  auto kind = classify_path("/w/net/d", fs);
  ASSERT_TRUE(kind) << kind.error().message;
  EXPECT_EQ(kind->backend, BackendKind::poll);
  EXPECT_EQ(kind->mount_point, "/w/net");
  EXPECT_EQ(kind->source, "server:/export");
}

TEST_F(FsSeam, TheWatchLimitIsReportedWithItsValue) {
  fs.mkdir("/w");
  opt.backend = BackendChoice::inotify;
  opt.paths = {"/w"};
  kernel.fail_next_add(ENOSPC);
  w = std::make_unique<Watcher::Impl>(opt, core::WatcherSeams{&clock, &fs, &kernel, &waiter});
  auto r = w->start();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::watch_limit);
  EXPECT_EQ(r.error().path, "/w");
  EXPECT_EQ(r.error().limit, sys::read_inotify_limits().max_user_watches);
}

TEST_F(FsSeam, AutoModePollsPastTheWatchLimitAndSaysWhichLimitOnce) {
  fs.mkdir("/w/a");
  fs.mkdir("/w/b");
  opt.backend = BackendChoice::auto_select;
  opt.paths = {"/w"};
  std::vector<Error> said;
  opt.on_diagnostic = [&](const Error& e, bool) {
    if (e.code == ErrorCode::watch_limit) said.push_back(e);
  };
  w = std::make_unique<Watcher::Impl>(opt, core::WatcherSeams{&clock, &fs, &kernel, &waiter});
  ASSERT_TRUE(w->start());  // /w is watched; the listing meets a and b
  fs.mkdir("/w/c");
  kernel.fail_next_add(ENOSPC);
  kernel.queue("/w", IN_CREATE | IN_ISDIR, "c");
  EXPECT_TRUE(w->step(0));
  ASSERT_EQ(said.size(), 1u);
  EXPECT_EQ(said[0].path, "/w/c");
  EXPECT_EQ(said[0].limit, sys::read_inotify_limits().max_user_watches);
  EXPECT_TRUE(w->under_polled(w->model.find_path("/w/c")));
}

// Auto mode hands a tree past kFanotifyMinDirs to one fanotify mark, if the process may:
// the capability check is a seam too, so both answers run without privilege or kernel.
class FanotifySwitch : public FsSeam, public ::testing::WithParamInterface<bool> {};

TEST_P(FanotifySwitch, ALargeTreeGoesToFanotifyOnlyWhenAllowed) {
  const bool allowed = GetParam();
  for (std::uint64_t i = 0; i < kFanotifyMinDirs + 10; ++i) fs.mkdir("/w/d" + std::to_string(i));
  opt.backend = BackendChoice::auto_select;
  opt.paths = {"/w"};
  core::WatcherSeams seams{&clock, &fs, &kernel, &waiter};
  bool opened = false;
  seams.fanotify = [&](std::uint64_t) -> Result<std::unique_ptr<backend::Fanotify>> {
    opened = true;
    return std::unique_ptr<backend::Fanotify>(std::make_unique<FakeFanotify>(fs));
  };
  seams.may_use_fanotify = [allowed] { return allowed; };
  w = std::make_unique<Watcher::Impl>(opt, std::move(seams));
  ASSERT_TRUE(w->start());
  for (int i = 0; i < 3; ++i) w->step(0);  // the crawl after ready, when fanotify took over
  EXPECT_EQ(opened, allowed);
  EXPECT_EQ(w->fanotify->live(), allowed);
  EXPECT_EQ(w->inotify->live(), !allowed);
  EXPECT_EQ(w->model.size(), kFanotifyMinDirs + 11);  // listed whole either way
  EXPECT_EQ(fs.open_fds(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Capability, FanotifySwitch, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Allowed" : "NotAllowed"; });

}  // namespace
}  // namespace lookout
