// What fanotify records mean, without a kernel: a FakeFs holds the tree, a FakeFanotify plays
// the group (records name directories by key, as FAN_REPORT_DFID_NAME does), a FakeClock and
// FakeWaiter the time. step() is driven by hand; events come out of the log.
#include <gtest/gtest.h>
#include <sys/fanotify.h>

#include <algorithm>

#include "core/watcher_impl.h"
#include "support/fake_clock.h"
#include "support/fake_fanotify.h"
#include "support/fake_fs.h"
#include "support/fake_waiter.h"

namespace lookout {
namespace {

using testing::FakeClock;
using testing::FakeFanotify;
using testing::FakeFs;
using testing::FakeWaiter;

struct Seen {
  EventKind kind;
  std::string path;
  std::string from;  // rename's source, or rescan's reason
  bool operator==(const Seen& o) const { return kind == o.kind && path == o.path && from == o.from; }
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << event_kind_name(s.kind) << " " << s.path << (s.from.empty() ? "" : " <- " + s.from);
}

class FanotifyTranslator : public ::testing::Test {
 protected:
  void SetUp() override {
    fs.mkdir("/w");
    opt.backend = BackendChoice::fanotify;
    opt.paths = {"/w"};
  }
  void start() {
    core::WatcherSeams seams{&clock, &fs, nullptr, &waiter};
    seams.fanotify = [this](std::uint64_t) -> Result<std::unique_ptr<backend::Fanotify>> {
      auto group = std::make_unique<FakeFanotify>(fs);
      kernel = group.get();
      return std::unique_ptr<backend::Fanotify>(std::move(group));
    };
    w = std::make_unique<Watcher::Impl>(opt, std::move(seams));
    auto r = w->start();
    ASSERT_TRUE(r) << r.error().message;
    // A tree this small is listed whole before ready; steps until the crawl's bookkeeping
    // is settled (a read that reached the queue's end).
    for (int i = 0; i < 3; ++i) w->step(0);
    take();
  }
  std::vector<Seen> step() {
    alive = w->step(0);
    return take();
  }
  std::vector<Seen> take() {
    std::vector<Event> out;
    w->log.take(*w->primary, out, 0);
    std::vector<Seen> seen;
    for (const Event& e : out) {
      if (e.kind == EventKind::backend) continue;
      seen.push_back(Seen{e.kind, e.path, e.kind == EventKind::rename ? e.from : e.reason});
    }
    return seen;
  }

  FakeClock clock;
  FakeFs fs;
  FakeWaiter waiter{clock};
  FakeFanotify* kernel = nullptr;  // owned by the watcher
  WatchOptions opt;
  std::unique_ptr<Watcher::Impl> w;
  bool alive = true;
};

TEST_F(FanotifyTranslator, StartMarksTheFilesystemAndKeysEveryDirectory) {
  fs.mkdir("/w/a/b");
  fs.write("/w/a/f");
  start();
  EXPECT_EQ(kernel->mark_count(), 1u);
  EXPECT_EQ(w->model.size(), 4u);
  EXPECT_FALSE(w->crawl.has_value());
  EXPECT_EQ(w->fan_dirs.count(kernel->key("/w/a/b")), 1u);
  EXPECT_EQ(fs.open_fds(), 0u);
}

TEST_F(FanotifyTranslator, CreateModifyDelete) {
  start();
  fs.write("/w/f", 3);
  kernel->queue(FAN_CREATE | FAN_MODIFY | FAN_CLOSE_WRITE, "/w", "f");  // merged, as the kernel does
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/f", ""},
                                       {EventKind::modify, "/w/f", ""},
                                       {EventKind::close_write, "/w/f", ""}}));
  fs.remove("/w/f");
  kernel->queue(FAN_DELETE, "/w", "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::remove, "/w/f", ""}}));
}

TEST_F(FanotifyTranslator, NewDirectoryIsKeyedAndItsContentsComeAsTheirOwnRecords) {
  // The mark sees everything on the filesystem: nothing races a new directory, so it is not
  // listed (unlike inotify's watch-then-list); what is made in it raises records of its own,
  // which name it by its key.
  start();
  fs.mkdir("/w/d/e");
  fs.write("/w/d/e/f");
  kernel->queue(FAN_CREATE | FAN_ONDIR, "/w", "d");
  kernel->queue(FAN_CREATE | FAN_ONDIR, "/w/d", "e");
  kernel->queue(FAN_CREATE, "/w/d/e", "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/d", ""},
                                       {EventKind::create, "/w/d/e", ""},
                                       {EventKind::create, "/w/d/e/f", ""}}));
  EXPECT_EQ(w->fan_dirs.count(kernel->key("/w/d/e")), 1u);
  fs.write("/w/d/e/f", 9);
  kernel->queue(FAN_MODIFY, "/w/d/e", "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::modify, "/w/d/e/f", ""}}));
}

TEST_F(FanotifyTranslator, RenameIsOneEventAndKeysFollowTheDirectory) {
  fs.mkdir("/w/a/sub");
  fs.mkdir("/w/b");
  start();
  backend::FanEvent ev;
  ev.mask = FAN_RENAME | FAN_ONDIR;
  ev.dir_key = kernel->key("/w/a");
  ev.name = "sub";
  ev.to_dir_key = kernel->key("/w/b");
  ev.to_name = "moved";
  fs.rename("/w/a/sub", "/w/b/moved");
  kernel->queue(ev);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::rename, "/w/b/moved", "/w/a/sub"}}));
  // The directory's key is its handle: a later record from inside names the new path.
  fs.write("/w/b/moved/f");
  kernel->queue(FAN_CREATE, "/w/b/moved", "f");
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::create, "/w/b/moved/f", ""}}));
}

TEST_F(FanotifyTranslator, RecordsFromOutsideEveryRootAreDropped) {
  fs.mkdir("/other");
  start();
  fs.write("/other/f");
  kernel->queue(FAN_CREATE, "/other", "f");
  EXPECT_TRUE(step().empty());
  EXPECT_TRUE(alive);
}

TEST_F(FanotifyTranslator, OverflowReportsRescanAndTheRescanFindsWhatWasLost) {
  fs.write("/w/gone");
  start();
  fs.write("/w/new");
  fs.remove("/w/gone");
  backend::FanEvent ev;
  ev.mask = FAN_Q_OVERFLOW;
  kernel->queue(ev);
  std::vector<Seen> seen = step();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), (Seen{EventKind::rescan, "", "overflow"}));
  std::sort(seen.begin() + 1, seen.end(), [](const Seen& a, const Seen& b) { return a.path < b.path; });
  EXPECT_EQ(std::vector<Seen>(seen.begin() + 1, seen.end()),
            (std::vector<Seen>{{EventKind::remove, "/w/gone", ""}, {EventKind::create, "/w/new", ""}}));
  EXPECT_EQ(w->stats.overflows, 1u);
}

TEST_F(FanotifyTranslator, TheRootsOwnDeletionEndsWatching) {
  start();
  const std::string root_key = kernel->key("/w");
  fs.remove("/w");
  backend::FanEvent ev;
  ev.mask = FAN_DELETE_SELF | FAN_ONDIR;
  ev.dir_key = root_key;
  ev.name = ".";
  kernel->queue(ev);
  EXPECT_EQ(step(), (std::vector<Seen>{{EventKind::remove, "/w", ""}}));
  EXPECT_FALSE(alive);
}

}  // namespace
}  // namespace lookout
