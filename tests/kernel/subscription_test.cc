// Several consumers of one Watcher through subscriptions: each with its own cursor, mask,
// filter and coalescing; a slow one cut off and handed a rescan plus the differences; the
// entries already there reported as `exists`; events carrying identity and stamps.
// Real directories, the test's own thread drives step() (no sleeps: waits with deadlines).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <random>

#include "../support/consumer_state.h"
#include "../support/fanotify_skip.h"
#include "../support/test_dirs.h"

namespace lookout::testing {
namespace {

using namespace std::chrono_literals;

WatchOptions options_for(const std::string& root) {
  WatchOptions o;
  o.paths = {root};
  o.backend = BackendChoice::inotify;
  o.primary_consumer = false;
  return o;
}

// Steps the watcher and takes from `sub` into `got` until pred holds or 20 s pass.
bool pump(Watcher& w, Subscription& sub, std::vector<Event>& got,
          const std::function<bool(const std::vector<Event>&)>& pred,
          std::function<void()> also = {}) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    sub.try_take(got);
    if (pred(got)) return true;
    w.step(10);
    if (also) also();
  }
  return pred(got);
}

bool has(const std::vector<Event>& evs, EventKind k, const std::string& path) {
  for (const auto& e : evs) {
    if (e.kind == k && e.path == path) return true;
  }
  return false;
}

std::size_t count(const std::vector<Event>& evs, EventKind k, const std::string& path) {
  std::size_t n = 0;
  for (const auto& e : evs) n += e.kind == k && e.path == path;
  return n;
}

bool path_at_or_below_for_test(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir + "/", 0) == 0;
}

void append_once(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  ::close(fd);
}

TEST(Subscription, TwoConsumersShareOneSetOfWatches) {
  TempDir dir;
  make_dirs(dir / "a/b");
  write_file(dir / "conf", "");
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  std::size_t watches_alone = w->stats().watches;
  SubscribeOptions run_like;  // coalesced, as a reloader wants
  SubscribeOptions stats_like;
  stats_like.coalesce = false;  // every kernel event, as inotifywatch counts
  stats_like.events = ~EventMask{0};
  auto run = w->subscribe(run_like);
  auto counter = w->subscribe(stats_like);
  EXPECT_EQ(w->stats().watches, watches_alone) << "a subscription adds no kernel watch";

  std::vector<Event> counted;
  for (int i = 0; i < 30; ++i) {
    append_once(dir / "conf");
    // The counting consumer keeps up (one kernel event per write); the other takes nothing.
    ASSERT_TRUE(pump(*w, *counter, counted, [&](auto& e) {
      return count(e, EventKind::modify, dir / "conf") == static_cast<std::size_t>(i + 1);
    })) << "write " << i;
  }
  std::vector<Event> coalesced;
  ASSERT_TRUE(pump(*w, *run, coalesced, [&](auto& e) { return count(e, EventKind::close_write, dir / "conf") > 0; }));
  EXPECT_EQ(count(coalesced, EventKind::modify, dir / "conf"), 30u)
      << "modify and close_write alternate: none merges (a close_write comes between)";
  // Consecutive identical events merge for the coalescing consumer only. Each is read
  // before the next is made (the kernel itself merges identical events still queued).
  counted.clear();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::chmod((dir / "conf").c_str(), i % 2 ? 0644 : 0600), 0);
    ASSERT_TRUE(pump(*w, *counter, counted, [&](auto& e) {
      return count(e, EventKind::attrib, dir / "conf") == static_cast<std::size_t>(i + 1);
    })) << "chmod " << i;
  }
  write_file(dir / "cookie", "");
  coalesced.clear();
  ASSERT_TRUE(pump(*w, *run, coalesced, [&](auto& e) { return has(e, EventKind::create, dir / "cookie"); }));
  EXPECT_EQ(count(coalesced, EventKind::attrib, dir / "conf"), 1u);
  EXPECT_EQ(run->stats().lagged, 0u);
  for (std::size_t i = 0; i < coalesced.size(); ++i) ASSERT_GT(coalesced[i].seq, 0u);
}

bool fd_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// An inline taker takes on the loop thread (the one calling step()) and, when it took
// everything, the consumer's fd is never signalled; when it declines, the fd is.
TEST(Subscription, AnInlineTakerTakesOnTheLoopThreadInPlaceOfAWakeUp) {
  TempDir dir;
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  auto sub = w->subscribe(SubscribeOptions{});
  std::vector<Event> inline_got;
  std::atomic<bool> accept{true};
  const auto loop_thread = std::this_thread::get_id();
  bool other_thread = false;
  sub->set_inline_taker([&] {
    if (!accept) return false;
    other_thread |= std::this_thread::get_id() != loop_thread;
    sub->try_take(inline_got);
    return true;
  });
  write_file(dir / "a", "x");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!has(inline_got, EventKind::close_write, dir / "a") && std::chrono::steady_clock::now() < deadline) {
    w->step(10);
  }
  ASSERT_TRUE(has(inline_got, EventKind::create, dir / "a"));
  ASSERT_TRUE(has(inline_got, EventKind::close_write, dir / "a"));
  EXPECT_FALSE(other_thread);
  EXPECT_FALSE(fd_readable(sub->fd())) << "taken inline: nothing to wake the consumer for";

  accept = false;  // busy: the events wait for the consumer, whose fd says so
  write_file(dir / "b", "x");
  std::vector<Event> got;
  ASSERT_TRUE(pump(*w, *sub, got, [&](auto& e) { return has(e, EventKind::close_write, dir / "b"); }));
  EXPECT_FALSE(has(inline_got, EventKind::create, dir / "b"));
  sub->set_inline_taker({});
}

// The fd is signalled when the inline taker declines (checked before anything takes).
TEST(Subscription, ADecliningInlineTakerLeavesTheFdSignalled) {
  TempDir dir;
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  auto sub = w->subscribe(SubscribeOptions{});
  int declined = 0;
  sub->set_inline_taker([&] {
    ++declined;
    return false;
  });
  write_file(dir / "a", "x");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!fd_readable(sub->fd()) && std::chrono::steady_clock::now() < deadline) w->step(10);
  EXPECT_TRUE(fd_readable(sub->fd()));
  EXPECT_GT(declined, 0);
  std::vector<Event> got;
  sub->try_take(got);
  EXPECT_TRUE(has(got, EventKind::create, dir / "a"));
  sub->set_inline_taker({});
}

TEST(Subscription, PathFilterAndMaskArePerSubscription) {
  TempDir dir;
  make_dirs(dir / "www");
  make_dirs(dir / "logs");
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  SubscribeOptions www;
  www.under = {dir / "www"};
  www.events = event_bit(EventKind::create);
  auto sub = w->subscribe(www);
  write_file(dir / "logs/app.log", "x");
  write_file(dir / "www/index.html", "x");
  write_file(dir / "www/cookie", "");
  std::vector<Event> got;
  ASSERT_TRUE(pump(*w, *sub, got, [&](auto& e) { return has(e, EventKind::create, dir / "www/cookie"); }));
  for (const auto& e : got) {
    EXPECT_EQ(e.kind, EventKind::create) << e.path;
    EXPECT_EQ(e.path.rfind(dir / "www/", 0), 0u) << e.path;
  }
  EXPECT_TRUE(has(got, EventKind::create, dir / "www/index.html"));
}

TEST(Subscription, SlowConsumerIsHandedARescanAndTheDifferences) {
  TempDir dir;
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  SubscribeOptions slow_opt;
  slow_opt.max_behind = 20;
  auto slow = w->subscribe(slow_opt);
  SubscribeOptions fast_opt;
  fast_opt.max_behind = 100000;
  auto fast = w->subscribe(fast_opt);
  std::vector<Event> fast_got;
  auto keep_fast_up = [&] { fast->try_take(fast_got); };

  make_dirs(dir / "a");
  make_dirs(dir / "b");
  for (int i = 0; i < 60; ++i) write_file(dir / ("a/f" + std::to_string(i)), "x");
  write_file(dir / "cookie1", "");
  ASSERT_TRUE(pump(*w, *fast, fast_got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie1"); }));
  EXPECT_GE(slow->stats().lagged, 1u) << "60+ events against a limit of 20";
  // Changes after the cut: the slow consumer learns of them only through the hand-off.
  rename_path(dir / "a/f1", dir / "b/f1");
  ASSERT_EQ(::unlink((dir / "a/f2").c_str()), 0);
  append_once(dir / "a/f3");                       // in place: no trace in the model's names
  ASSERT_EQ(::chmod((dir / "a/f4").c_str(), 0600), 0);
  make_dirs(dir / "c/d");
  write_file(dir / "c/d/new", "y");
  rename_path(dir / "a", dir / "a2");              // the noted changes follow the rename
  write_file(dir / "cookie2", "");
  ASSERT_TRUE(pump(*w, *fast, fast_got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie2"); }));

  // Now the slow one reads: what it had, one rescan record, the differences, then on.
  std::vector<Event> got;
  ConsumerState seen;
  ASSERT_TRUE(pump(*w, *slow, got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie2"); }, keep_fast_up))
      << "the hand-off never came";
  write_file(dir / "cookie3", "");  // and after the hand-off, ordinary events again
  ASSERT_TRUE(pump(*w, *slow, got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie3"); }, keep_fast_up));
  std::size_t rescans = 0, rescan_at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    apply_event(seen, got[i]);
    EXPECT_EQ(got[i].seq, i + 1) << "its stream has no gap";
    if (got[i].kind == EventKind::rescan) {
      ++rescans;
      rescan_at = i;
      EXPECT_EQ(got[i].reason, "lagged");
      EXPECT_EQ(got[i].path, dir.path());
    }
  }
  EXPECT_EQ(rescans, 1u);
  EXPECT_EQ(diff_states(snapshot(dir.path()), seen), "") << "applying its events must give the tree";
  auto after_rescan = std::vector<Event>(got.begin() + static_cast<std::ptrdiff_t>(rescan_at), got.end());
  EXPECT_TRUE(has(after_rescan, EventKind::modify, dir / "a2/f3")) << "an in-place write missed while cut off";
  EXPECT_TRUE(has(after_rescan, EventKind::attrib, dir / "a2/f4"));
  EXPECT_EQ(slow->stats().lagged, 1u);
  EXPECT_EQ(fast->stats().lagged, 0u);
  EXPECT_LE(slow->stats().behind, 0u);
}

class ReportExisting : public ::testing::TestWithParam<BackendChoice> {};

TEST_P(ReportExisting, ListsTheTreeOnceThenChanges) {
  TempDir dir;
  if (GetParam() == BackendChoice::fanotify) {
    if (std::string why = fanotify_unavailable(dir.path()); !why.empty()) GTEST_SKIP() << why;
  }
  make_dirs(dir / "x/y");
  write_file(dir / "x/y/z", "hello");
  write_file(dir / "top", "");
  // Enough directories that fanotify's crawl goes on after ready.
  for (int i = 0; i < 300; ++i) make_dirs(dir / ("many/d" + std::to_string(i)));
  WatchOptions wo = options_for(dir.path());
  wo.backend = GetParam();
  auto created = Watcher::create(wo);
  ASSERT_TRUE(created);
  auto& w = **created;
  SubscribeOptions o;
  o.report_existing = true;
  auto early = w.subscribe(o);  // before start: listed once the crawl is done
  ASSERT_TRUE(w.start());
  std::vector<Event> got;
  ASSERT_TRUE(pump(w, *early, got, [&](auto& e) { return has(e, EventKind::exists, dir / "x/y/z"); }));
  ConsumerState seen;
  for (const auto& e : got) {
    EXPECT_EQ(e.kind, EventKind::exists);
    seen[e.path] = e.is_dir;
  }
  ConsumerState want = snapshot(dir.path());
  EXPECT_EQ(diff_states(want, seen), "");
  EXPECT_EQ(got.size(), want.size()) << "one record per entry";
  for (const auto& e : got) {
    struct stat st;
    ASSERT_EQ(::lstat(e.path.c_str(), &st), 0);
    ASSERT_TRUE(e.stat.has_value()) << e.path;
    EXPECT_EQ(e.stat->ino, st.st_ino) << e.path;
    EXPECT_EQ(e.stat->dev, static_cast<std::uint64_t>(st.st_dev)) << e.path;
    if (!e.is_dir) {
      EXPECT_EQ(e.stat->size, static_cast<std::uint64_t>(st.st_size)) << e.path;
    }
  }
  // A subscription made on a running watcher gets the tree as it is now.
  write_file(dir / "later", "");
  std::vector<Event> ignore;
  ASSERT_TRUE(pump(w, *early, ignore, [&](auto& e) { return has(e, EventKind::create, dir / "later"); }));
  auto late = w.subscribe(o);
  std::vector<Event> late_got;
  ASSERT_TRUE(pump(w, *late, late_got, [&](auto& e) { return has(e, EventKind::exists, dir / "later"); }));
  write_file(dir / "cookie", "");
  ASSERT_TRUE(pump(w, *late, late_got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie"); }));
  EXPECT_EQ(count(late_got, EventKind::exists, dir / "x/y/z"), 1u);
  EXPECT_EQ(count(late_got, EventKind::create, dir / "later"), 0u) << "it existed when it subscribed";
}

// A subscription made before start() is listed at ready, before any later change: a file
// removed right after ready is an `exists` then a `delete` in its stream, not missing from
// both (its listing used to wait for the loop's first step, after the removal).
TEST(ReportExistingAtReady, ChangesRightAfterReadyFollowTheListing) {
  TempDir dir;
  write_file(dir / "gone", "");
  auto created = Watcher::create(options_for(dir.path()));
  ASSERT_TRUE(created);
  auto& w = **created;
  SubscribeOptions o;
  o.report_existing = true;
  auto early = w.subscribe(o);
  ASSERT_TRUE(w.start());
  ASSERT_EQ(::unlink((dir / "gone").c_str()), 0);  // before any step of the loop
  write_file(dir / "cookie", "");
  std::vector<Event> got;
  ASSERT_TRUE(pump(w, *early, got, [&](auto& e) { return has(e, EventKind::create, dir / "cookie"); }));
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].kind, EventKind::exists);
  EXPECT_EQ(got[0].path, dir / "gone");
  EXPECT_TRUE(has(got, EventKind::remove, dir / "gone"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportExisting,
                         ::testing::Values(BackendChoice::inotify, BackendChoice::fanotify, BackendChoice::poll),
                         [](const auto& info) {
                           return std::string(info.param == BackendChoice::inotify    ? "inotify"
                                              : info.param == BackendChoice::fanotify ? "fanotify"
                                                                                      : "poll");
                         });

TEST(Subscription, EventsCarryIdentityAndStamps) {
  TempDir dir;
  write_file(dir / "old", "12345");
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  SubscribeOptions o;
  o.events = ~EventMask{0};
  auto sub = w->subscribe(o);
  write_file(dir / "new", "abc");
  std::vector<Event> got;
  ASSERT_TRUE(pump(*w, *sub, got, [&](auto& e) { return has(e, EventKind::close_write, dir / "new"); }));
  struct stat st;
  ASSERT_EQ(::lstat((dir / "new").c_str(), &st), 0);
  for (const auto& e : got) {
    if (e.path != dir / "new") continue;
    ASSERT_TRUE(e.stat) << event_kind_name(e.kind);
    EXPECT_EQ(e.stat->ino, st.st_ino);
    EXPECT_EQ(e.stat->dev, static_cast<std::uint64_t>(st.st_dev));
  }
  rename_path(dir / "new", dir / "renamed");
  ASSERT_EQ(::unlink((dir / "renamed").c_str()), 0);
  ASSERT_TRUE(pump(*w, *sub, got, [&](auto& e) { return has(e, EventKind::remove, dir / "renamed"); }));
  for (const auto& e : got) {
    if (e.kind == EventKind::rename || e.kind == EventKind::remove) {
      ASSERT_TRUE(e.stat) << event_kind_name(e.kind) << " " << e.path;
      EXPECT_EQ(e.stat->ino, st.st_ino) << "the same file under its new name, then deleted";
    }
  }
}

TEST(Subscription, ReadinessFdWakesAPollLoopBesideTheWatcherThread) {
  TempDir dir;
  auto w = start_watcher(options_for(dir.path()));
  ASSERT_TRUE(w);
  auto sub = w->subscribe({});
  std::thread loop([&] { w->run(); });
  write_file(dir / "f", "");
  std::vector<Event> got;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!has(got, EventKind::create, dir / "f") && std::chrono::steady_clock::now() < deadline) {
    pollfd p{sub->fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) == 1) {
      ASSERT_TRUE(sub->try_take(got));
    }
    WatcherStats s = w->stats();  // safe from another thread while the loop runs
    EXPECT_GE(s.watches, 1u);
  }
  EXPECT_TRUE(has(got, EventKind::create, dir / "f"));
  w->request_stop();
  loop.join();
  // The end wakes the fd, and try_take says so once drained.
  pollfd p{sub->fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1);
  while (sub->try_take(got)) {
  }
  EXPECT_FALSE(sub->try_take(got));
}

// Random operations while one consumer lags behind its limit again and again and another
// keeps up: both must end with the tree on disk, the lagging one through its hand-offs.
class LaggingConsumer : public ::testing::TestWithParam<BackendChoice> {};

TEST_P(LaggingConsumer, RandomOperationsAddUpForBoth) {
  TempDir dir;
  if (GetParam() == BackendChoice::fanotify) {
    if (std::string why = fanotify_unavailable(dir.path()); !why.empty()) GTEST_SKIP() << why;
  }
  WatchOptions o = options_for(dir.path());
  o.backend = GetParam();
  auto w = start_watcher(o);
  ASSERT_TRUE(w);
  SubscribeOptions lag_opt;
  lag_opt.max_behind = 25;
  auto lag = w->subscribe(lag_opt);
  auto fast = w->subscribe({});
  ConsumerState lag_state, fast_state;
  std::vector<Event> lag_got, fast_got;
  std::uint64_t lag_seq = 0;
  auto take_lag = [&] {
    std::size_t from = lag_got.size();
    lag->try_take(lag_got);
    for (std::size_t i = from; i < lag_got.size(); ++i) {
      apply_event(lag_state, lag_got[i]);
      ASSERT_EQ(lag_got[i].seq, ++lag_seq) << "a gap in the lagging consumer's stream";
    }
  };
  auto take_fast = [&] {
    std::size_t from = fast_got.size();
    fast->try_take(fast_got);
    for (std::size_t i = from; i < fast_got.size(); ++i) apply_event(fast_state, fast_got[i]);
  };
  std::mt19937 rng(GetParam() == BackendChoice::fanotify ? 7 : 11);
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  std::vector<std::string> dirs{dir.path()}, files;
  int next_name = 0;
  for (int round = 0; round < 6; ++round) {
    for (int op = 0; op < 120; ++op) {
      std::string name = "n" + std::to_string(next_name++);
      switch (pick(6)) {
        case 0: {
          std::string d = dirs[pick(dirs.size())] + "/" + name;
          make_dirs(d);
          dirs.push_back(d);
          break;
        }
        case 1:
        case 2: {
          std::string f = dirs[pick(dirs.size())] + "/" + name;
          write_file(f, "x");
          files.push_back(f);
          break;
        }
        case 3:
          if (!files.empty()) {
            std::size_t i = pick(files.size());
            ::unlink(files[i].c_str());
            files.erase(files.begin() + static_cast<std::ptrdiff_t>(i));
          }
          break;
        case 4:
          if (!files.empty()) {
            std::size_t i = pick(files.size());
            std::string to = dirs[pick(dirs.size())] + "/" + name;
            if (::rename(files[i].c_str(), to.c_str()) == 0) files[i] = to;
          }
          break;
        case 5:
          if (dirs.size() > 1) {
            // Rename a directory: every path below changes at once.
            std::size_t i = 1 + pick(dirs.size() - 1);
            std::string parent = dirs[pick(dirs.size())];
            std::string to = parent + "/" + name;
            if (path_at_or_below_for_test(parent, dirs[i])) break;
            if (::rename(dirs[i].c_str(), to.c_str()) == 0) {
              std::string from = dirs[i];
              for (auto& d : dirs) {
                if (d == from || d.rfind(from + "/", 0) == 0) d = to + d.substr(from.size());
              }
              for (auto& f : files) {
                if (f.rfind(from + "/", 0) == 0) f = to + f.substr(from.size());
              }
            }
          }
          break;
      }
      if (op % 10 == 0) w->step(0);
      take_fast();
      if (pick(4) == 0) take_lag();  // reads now and then only
    }
    std::string cookie = dir / ("cookie" + std::to_string(round));
    write_file(cookie, "");
    files.push_back(cookie);
    auto seen = [&](const std::vector<Event>& evs) { return has(evs, EventKind::create, cookie); };
    ASSERT_TRUE(pump(*w, *fast, fast_got, seen)) << "round " << round;
    fast_state.clear();
    for (const auto& e : fast_got) apply_event(fast_state, e);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!seen(lag_got) && std::chrono::steady_clock::now() < deadline) {
      take_lag();
      w->step(10);
      take_fast();
    }
    ASSERT_TRUE(seen(lag_got)) << "round " << round << ": the lagging consumer never caught up";
    ConsumerState disk = snapshot(dir.path());
    EXPECT_EQ(diff_states(disk, fast_state), "") << "round " << round << " (fast)";
    EXPECT_EQ(diff_states(disk, lag_state), "") << "round " << round << " (lagging)";
  }
  EXPECT_GE(lag->stats().lagged, 3u) << "the test must make it lag, again and again";
  RecordProperty("lagged", static_cast<int>(lag->stats().lagged));
  EXPECT_EQ(fast->stats().lagged, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, LaggingConsumer,
                         ::testing::Values(BackendChoice::inotify, BackendChoice::fanotify),
                         [](const auto& info) {
                           return std::string(info.param == BackendChoice::inotify ? "inotify" : "fanotify");
                         });

}  // namespace
}  // namespace lookout::testing
