// The start-up crawl on inotify, listed by threads past TreeScanner::kParallelAfterDirs
// directories (the loop thread adds each watch and fills the model; DirListers open, list and
// stat): the model it leaves must be the tree, every directory must be watched at its place,
// also when directories are made, renamed and removed all through the crawl.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/tree_model.h"
#include "core/tree_scanner.h"
#include "kernel/behaviour.h"
#include "support/consumer_state.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout {
namespace {

using namespace behaviour;  // NOLINT: the suite's fixture and helpers
using testing::Recorder;
using testing::TempDir;

class StartUpCrawl : public Behaviour {};

INSTANTIATE_TEST_SUITE_P(Inotify, StartUpCrawl,
                         ::testing::Values(Case{BackendChoice::inotify, Fs::tmpdir},
                                           Case{BackendChoice::inotify, Fs::tmpfs},
                                           Case{BackendChoice::inotify, Fs::xfs},
                                           Case{BackendChoice::inotify, Fs::btrfs},
                                           Case{BackendChoice::auto_select, Fs::tmpdir}),
                         case_name);
LOOKOUT_PARAM_LABELS(Inotify, StartUpCrawl, "_on_(tmpfs|xfs|btrfs)$", LABELS(root));

// What the model holds, as a report_existing subscription lists it: one `exists` per entry.
State model_of(Watcher& w, std::size_t expected) {
  SubscribeOptions o;
  o.report_existing = true;
  auto sub = w.subscribe(o);
  std::vector<Event> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::size_t quiet_steps = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::size_t before = got.size();
    sub->try_take(got);
    // Every entry listed, and a few steps with nothing more (an extra entry would show).
    if (got.size() >= expected && got.size() == before && ++quiet_steps > 3) break;
    w.step(10);
  }
  State s;
  for (const auto& e : got) {
    if (e.kind == EventKind::exists) s[e.path] = e.is_dir;
  }
  return s;
}

// Each directory of `tree` gets a new file; each must be reported created at its path.
void expect_every_directory_watched(Recorder& r, const State& tree, const std::string& root) {
  std::set<std::string> want, got;
  for (const auto& [path, is_dir] : tree) {
    if (!is_dir) continue;
    testing::write_file(path + "/probe", "x");
    want.insert(path + "/probe");
  }
  testing::write_file(root + "/probe", "x");
  want.insert(root + "/probe");
  EXPECT_TRUE(r.wait_until([&](const std::vector<Event>& evs) {
    for (const auto& e : evs) {
      if (e.kind == EventKind::create && want.count(e.path)) got.insert(e.path);
    }
    return got.size() == want.size();
  })) << got.size() << " of " << want.size() << " directories report; not: " << first_missing(want, got);
}

// A watcher started while `round(r)` runs on another thread, from before start() until a round
// past its return (at most 200 rounds); then, once the crawl is done and a cookie came back,
// its model must be the tree.
struct RacedStart {
  std::unique_ptr<Watcher> w;
  std::unique_ptr<Recorder> r;
};
RacedStart start_while_changing(const WatchOptions& opt, const std::string& root,
                                const std::function<void(int)>& round) {
  std::atomic<bool> started{false};
  std::atomic<int> rounds{0};
  std::thread mutator([&] {
    for (int n = 0; n < 200; ++n) {
      round(n);
      rounds = n + 1;
      if (started && n > 0) break;  // until start() returned, and a round past it
    }
  });
  RacedStart s;
  s.w = testing::start_watcher(opt);
  started = true;
  const int rounds_at_ready = rounds;
  mutator.join();
  if (!s.w) {
    ADD_FAILURE() << "start failed";
    return s;
  }
  s.r = std::make_unique<Recorder>(*s.w);
  EXPECT_TRUE(wait_crawled(*s.r, *s.w));
  EXPECT_TRUE(s.r->sync(root + "/cookie"));
  const State disk = snapshot(root);
  EXPECT_EQ(head(diff_states(disk, model_of(*s.w, disk.size()))), "")
      << rounds_at_ready << " round(s) of changes before ready, " << rounds << " in all";
  return s;
}

// A tree large enough for the listing threads, quiet: the model is the tree and every
// directory is watched.
TEST_P(StartUpCrawl, LargeTreeIsWholeAndWatched) {
  TempDir t(base());
  make_grid(t, 20, 60);  // 1220 directories
  for (int i = 0; i < 20; ++i) testing::make_dirs(t / ("d" + std::to_string(i) + "/e0/deep/er/still"));
  auto w = testing::start_watcher(opts_for(t.path()));
  ASSERT_TRUE(w);
  Recorder r(*w);
  ASSERT_TRUE(wait_crawled(r, *w));
  const State disk = snapshot(t.path());
  EXPECT_EQ(head(diff_states(disk, model_of(*w, disk.size()))), "");
  if (GetParam().backend == BackendChoice::inotify) {
    EXPECT_EQ(w->stats().watches, 1u + 20 + 20 * 60 + 20 * 3);
  }
  expect_every_directory_watched(r, disk, t.path());
}

// Directories made (with contents), renamed (within a parent and across parents, away and
// back) and removed by another thread from before start() until just after it returned: whatever
// the crawl met, the model ends as the tree, every directory is watched where it is now, and
// nothing is reported twice as created.
LOOKOUT_TEST_P(StartUpCrawl, ChangesRacingTheCrawlLeaveTheModelTrue, LABELS(slow)) {
  TempDir t(base());
  constexpr int kTop = 40, kSub = 100;  // 4040 directories: most listed by the threads
  make_grid(t, kTop, kSub);
  RacedStart s = start_while_changing(opts_for(t.path()), t.path(), [&](int round) {
    auto d = [&](int i) { return t / ("d" + std::to_string(i)); };
    for (int i = 0; i < kTop; ++i) {
      const std::string top = d(i), next = d((i + 1) % kTop), r = std::to_string(round);
      // Made, with something inside, at two depths.
      testing::make_dirs(top + "/new" + r + "/a/b");
      testing::write_file(top + "/new" + r + "/a/b/f", "x");
      // Renamed within its parent and back; renamed to a new name for good.
      const std::string e = top + "/e" + std::to_string((round * 7) % kSub);
      ::rename(e.c_str(), (e + "-y").c_str());
      ::rename((e + "-y").c_str(), e.c_str());
      const std::string g = top + "/e" + std::to_string((round * 7 + 3) % kSub);
      ::rename(g.c_str(), (g + "-r" + r).c_str());
      // Moved to another parent. (Not made again in its place: a directory made, moved
      // away and made again under one name before the loop reads the first IN_CREATE is
      // a race of the event handling after ready, not of the crawl, with tests of its own
      // (Behaviour.DirectoryMadeMovedAwayAndMadeAgainBeforeItsCreateIsRead); and fanotify
      // reports both makes, which the "created at most once" check below would count.)
      const std::string m = top + "/new" + r;
      ::rename(m.c_str(), (next + "/from" + std::to_string(i) + "-" + r).c_str());
      // Removed: last round's moved directory, and a grid directory with its file.
      if (round > 0) testing::remove_all(next + "/from" + std::to_string(i) + "-" + std::to_string(round - 1));
      testing::remove_all(top + "/e" + std::to_string((round * 7 + 5) % kSub));
    }
  });
  ASSERT_TRUE(s.w && s.r);
  Recorder& r = *s.r;
  // Reported created at most once each (a listing and a queued IN_CREATE both saw it). In
  // auto mode also across the hand-over to fanotify: the mark is placed before the inotify
  // queue is applied, so a change made just after it is in both (see switch_to_fanotify).
  std::map<std::string, int> created;
  for (const auto& e : r.events()) {
    if (e.kind == EventKind::create) ++created[e.path];
  }
  for (const auto& [path, n] : created) EXPECT_LE(n, 1) << path << "\n" << events_about(r.events(), path);
  r.clear();
  expect_every_directory_watched(r, snapshot(t.path()), t.path());
}

// The same for files, from before start() until just after it returned: made and written,
// renamed within their directory and to another, made again under the name they left (the
// log rotation pattern), removed. In auto mode this spans the hand-over to fanotify, where a
// change can be in both the watches' queue and the mark's: whatever the order, the model
// ends as the tree (no file it holds that is not there, none missing).
LOOKOUT_TEST_P(StartUpCrawl, FileChangesRacingTheCrawlLeaveTheModelTrue, LABELS(slow)) {
  TempDir t(base());
  constexpr int kTop = 40, kSub = 60;  // 2440 directories: past auto mode's switch to fanotify
  make_grid(t, kTop, kSub);
  RacedStart s = start_while_changing(opts_for(t.path()), t.path(), [&](int round) {
    const std::string r = std::to_string(round);
    for (int i = 0; i < kTop; ++i) {
      const std::string top = t / ("d" + std::to_string(i));
      const std::string dir = top + "/e" + std::to_string((round * 7 + i) % kSub);
      const std::string other = top + "/e" + std::to_string((round * 7 + i + 1) % kSub);
      testing::write_file(dir + "/app.log", "line " + r + "\n");
      ::rename((dir + "/app.log").c_str(), (dir + "/app.log." + r).c_str());
      testing::write_file(dir + "/app.log", "new " + r + "\n");
      testing::write_file(dir + "/tmp" + r, "x");
      ::rename((dir + "/tmp" + r).c_str(), (other + "/moved" + r).c_str());
      if (round > 0) ::unlink((dir + "/app.log." + std::to_string(round - 1)).c_str());
    }
  });
  EXPECT_TRUE(s.w && s.r);
}

// TreeScanner alone, with listing threads, over a real tree: the same model as a scan on one
// thread, each directory entered (watched) once, and its parent entered before it.
TEST(TreeScannerThreads, SameModelAsOneThread) {
  TempDir t;
  make_grid(t, 30, 40);  // 1230 directories
  for (int i = 0; i < 30; ++i) testing::write_file(t / ("d" + std::to_string(i) + "/top-file"), "x");
  auto scan = [&](unsigned threads, std::vector<std::string>& entered) {
    auto model = std::make_unique<core::TreeModel>();
    sys::FileStat st;
    EXPECT_EQ(sys::real_fs().stat_follow(t.path().c_str(), st), 0);
    core::NodeId root = model->add_root(t.path(), st);
    core::ScanHooks hooks;
    hooks.enter_dir = [&](core::NodeId, const std::string& path) {
      entered.push_back(path);
      return true;
    };
    hooks.stat_files = [](core::NodeId) { return false; };
    core::TreeScanner scanner(*model, hooks);
    scanner.set_threads(threads);
    scanner.begin(root);
    while (!scanner.run(100)) {
    }
    return model;
  };
  std::vector<std::string> entered_one, entered_many;
  auto one = scan(0, entered_one);
  auto many = scan(3, entered_many);
  auto paths = [](const core::TreeModel& m) {
    std::set<std::string> out;
    for (core::NodeId id : m.subtree_post_order(m.children(core::kTopNode).front())) {
      out.insert(m.path(id) + (m.node(id).is_dir() ? "/" : ""));
    }
    return out;
  };
  EXPECT_EQ(paths(*one), paths(*many));
  EXPECT_EQ(paths(*many).size(), 1u + 30 + 30 * 40 + 30 * 40 + 30);
  std::set<std::string> seen;
  for (const auto& p : entered_many) {
    EXPECT_TRUE(seen.insert(p).second) << p << " entered twice";
    if (p != t.path()) EXPECT_TRUE(seen.count(p.substr(0, p.rfind('/')))) << p << " before its parent";
  }
  EXPECT_EQ(seen.size(), entered_one.size());
}

}  // namespace
}  // namespace lookout
