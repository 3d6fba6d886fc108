// The polling scan on real randomized trees: whatever the number of threads it finds the same
// changes and builds the same fresh subtree; the events it leads to turn the old tree into the
// new one; a quiet tree costs no listing and no model; a local change diffs only locally.
#include "backend/poll_scanner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <vector>

#include "support/consumer_state.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::core {
namespace {

namespace fs = std::filesystem;
using lookout::testing::TempDir;
using backend::ExcludedFn;
using backend::poll_scan;
using backend::PollScan;
using backend::reconcile_poll;

struct Entry {
  sys::FileType type;
  std::uint64_t ino;
  std::uint64_t size;
  std::int64_t mtime_ns, ctime_ns;
  std::uint32_t mode;
  bool operator==(const Entry&) const = default;
};
using Flat = std::map<std::string, Entry>;  // path relative to the flattened directory

void flatten_into(const TreeModel& m, NodeId dir, const std::string& prefix, Flat& out) {
  m.for_each_child(dir, [&](NodeId c) {
    const Node& n = m.node(c);
    std::string p = prefix + std::string(m.name(c));
    const lookout::sys::FileStat st = m.stat(c);
    out[p] = {st.type, st.ino, st.size, st.mtime_ns, st.ctime_ns, st.mode};
    if (n.is_dir()) flatten_into(m, c, p + "/", out);
  });
}

std::string show(const Entry& e) {
  return "type=" + std::to_string(static_cast<int>(e.type)) + " ino=" + std::to_string(e.ino) +
         " size=" + std::to_string(e.size) + " mtime=" + std::to_string(e.mtime_ns) +
         " ctime=" + std::to_string(e.ctime_ns) + " mode=" + std::to_string(e.mode);
}

// Readable differences ("" when equal): gtest would print the raw bytes of every entry.
std::string diff(const Flat& got, const Flat& want) {
  std::string out;
  for (const auto& [p, e] : want) {
    auto it = got.find(p);
    if (it == got.end())
      out += "missing " + p + "\n";
    else if (!(it->second == e))
      out += "differs " + p + ": " + show(it->second) + " want " + show(e) + "\n";
  }
  for (const auto& [p, e] : got) {
    if (!want.count(p)) out += "extra " + p + "\n";
  }
  return out;
}

Flat flatten(const TreeModel& m, NodeId dir) {
  Flat out;
  flatten_into(m, dir, "", out);
  return out;
}

// What a full pass promises: every entry's stat, except the stamps of directories, which
// reconcile() leaves as they were when it takes a directory for renamed (until the next pass).
Flat without_dir_stamps(Flat f) {
  for (auto& [p, e] : f) {
    if (e.type == sys::FileType::dir) e = {e.type, e.ino, 0, 0, 0, e.mode};
  }
  return f;
}

// Only what a pruned pass promises to see: names, types and identities.
Flat structure(Flat f) {
  for (auto& [p, e] : f) e = {e.type, e.ino, 0, 0, 0, 0};
  return f;
}

// The live model of `root` as the watcher holds it after its first crawl.
struct Live {
  TreeModel model;
  NodeId root = kNoNode;
};

Live crawl(const std::string& root) {
  Live l;
  TreeModel first;
  PollScan scan;
  EXPECT_TRUE(poll_scan(l.model, kNoNode, first, root, true, {}, {}, scan, 1));
  l.root = l.model.add_root(root, scan.root_st);
  reconcile(l.model, l.root, first, scan.fresh_dir, {});
  return l;
}

struct PassResult {
  PollScan scan;
  std::string scope;  // path of the diffed subtree, "" when nothing changed
  Flat fresh;         // the fresh subtree, relative to the scope
  std::vector<std::string> events;
  lookout::testing::ConsumerState consumer;
  Flat after;  // the live model after the diff
};

// One pass on a copy of `live` (the original stays as it was, for the next configuration).
PassResult pass(const Live& live, const std::string& root, bool full, unsigned threads,
                lookout::testing::ConsumerState consumer, const ExcludedFn& excluded = {}) {
  PassResult r;
  Live l = live;
  TreeModel fresh;
  std::vector<std::string> errors;
  EXPECT_TRUE(poll_scan(
      l.model, l.root, fresh, root, full, excluded,
      [&](const Error& e) { errors.push_back(e.message); }, r.scan, threads));
  EXPECT_TRUE(errors.empty()) << errors.front();
  if (r.scan.changed()) {
    r.scope = l.model.path(r.scan.live_dir);
    r.fresh = flatten(fresh, r.scan.fresh_dir);
  }
  DiffSink sink;
  sink.event = [&](EventKind k, const std::string& p, const std::string& from, bool is_dir) {
    r.events.push_back(std::string(lookout::event_kind_name(k)) + " " + p +
                       (from.empty() ? "" : " < " + from));
    Event e;
    e.kind = k;
    e.path = p;
    e.from = from;
    e.is_dir = is_dir;
    lookout::testing::apply_event(consumer, e);
  };
  reconcile_poll(l.model, l.root, fresh, r.scan, sink);
  r.consumer = std::move(consumer);
  r.after = flatten(l.model, l.root);
  return r;
}

class RandomTree {
 public:
  RandomTree(const std::string& root, unsigned seed) : root_(root), rng_(seed) {
    dirs_.push_back("");
    for (int i = 0; i < 60; ++i) mkdir_random();
    for (int i = 0; i < 400; ++i) file_random();
  }

  // A mix of every kind of change: some change directory stamps, some (in-place writes)
  // only a full pass can see.
  void mutate(int ops) {
    for (int i = 0; i < ops; ++i) {
      switch (pick(9)) {
        case 0:
          file_random();
          break;
        case 1:
          mkdir_random();
          file_random();
          break;
        case 2:
          remove_file();
          break;
        case 3:
          remove_dir();
          break;
        case 4:
          move_file();
          break;
        case 5:
          move_dir();
          break;
        case 6:
          touch_in_place();
          break;
        case 7:
          append();
          break;
        case 8:
          chmod_file();
          break;
      }
    }
  }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  std::string abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }
  std::string join(const std::string& d, const std::string& n) const {
    return d.empty() ? n : d + "/" + n;
  }
  std::string fresh_name(const char* prefix) { return prefix + std::to_string(serial_++); }
  bool exists(const std::string& rel) const { return fs::exists(fs::symlink_status(abs(rel))); }

  void refresh() {
    // Paths change with renames and deletions: list them again from the disk.
    dirs_.assign(1, "");
    files_.clear();
    for (auto it = fs::recursive_directory_iterator(root_);
         it != fs::recursive_directory_iterator(); ++it) {
      std::string rel = it->path().string().substr(root_.size() + 1);
      (it->is_directory() ? dirs_ : files_).push_back(rel);
    }
  }
  void mkdir_random() {
    std::string d = join(dirs_[pick(dirs_.size())], fresh_name("d"));
    fs::create_directory(abs(d));
    dirs_.push_back(d);
  }
  void file_random() {
    std::string f = join(dirs_[pick(dirs_.size())], fresh_name("f"));
    lookout::testing::write_file(abs(f), std::string(pick(20), 'x'));
    files_.push_back(f);
  }
  void remove_file() {
    if (files_.empty()) return;
    fs::remove(abs(files_[pick(files_.size())]));
    refresh();
  }
  void remove_dir() {
    if (dirs_.size() < 2) return;
    fs::remove_all(abs(dirs_[1 + pick(dirs_.size() - 1)]));
    refresh();
  }
  void move_file() {
    if (files_.empty()) return;
    std::string to = join(dirs_[pick(dirs_.size())], fresh_name("m"));
    fs::rename(abs(files_[pick(files_.size())]), abs(to));
    refresh();
  }
  void move_dir() {
    if (dirs_.size() < 2) return;
    std::string from = dirs_[1 + pick(dirs_.size() - 1)];
    std::string parent = dirs_[pick(dirs_.size())];
    if (parent == from || parent.rfind(from + "/", 0) == 0) return;  // into itself
    fs::rename(abs(from), abs(join(parent, fresh_name("md"))));
    refresh();
  }
  void touch_in_place() {
    if (files_.empty()) return;
    // Same size, other mtime: the directory's stamps stay as they were.
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000 + static_cast<long>(serial_++), 0}};
    ::utimensat(AT_FDCWD, abs(files_[pick(files_.size())]).c_str(), times, 0);
  }
  void append() {
    if (!files_.empty()) lookout::testing::append_file(abs(files_[pick(files_.size())]), "more");
  }
  void chmod_file() {
    if (!files_.empty()) ::chmod(abs(files_[pick(files_.size())]).c_str(), 0600 | pick(2) * 044);
  }

  std::string root_;
  std::mt19937 rng_;
  std::vector<std::string> dirs_, files_;
  int serial_ = 0;
};

LOOKOUT_TEST(PollScanner, ParallelScanEqualsSerialOnRandomizedTrees, LABELS(slow)) {
  for (unsigned seed = 1; seed <= 12; ++seed) {
    TempDir t;
    RandomTree tree(t.path(), seed);
    Live live = crawl(t.path());
    auto before = lookout::testing::snapshot(t.path());
    tree.mutate(static_cast<int>(1 + seed * 3));
    auto truth = crawl(t.path());
    Flat want = flatten(truth.model, truth.root);
    auto disk = lookout::testing::snapshot(t.path());
    for (bool full : {true, false}) {
      PassResult serial = pass(live, t.path(), full, 1, before);
      SCOPED_TRACE("seed " + std::to_string(seed) + (full ? " full" : " pruned"));
      // The events turn the old tree into the new one, and the model ends equal to a crawl.
      EXPECT_EQ(lookout::testing::diff_states(disk, serial.consumer), "");
      if (full) {
        EXPECT_EQ(diff(without_dir_stamps(serial.after), without_dir_stamps(want)), "");
      } else {
        EXPECT_EQ(diff(structure(serial.after), structure(want)), "");
      }
      for (unsigned threads : {2u, 3u, 4u}) {
        PassResult par = pass(live, t.path(), full, threads, before);
        SCOPED_TRACE("threads " + std::to_string(threads));
        EXPECT_EQ(par.scope, serial.scope);
        EXPECT_EQ(diff(par.fresh, serial.fresh), "");
        EXPECT_EQ(par.events, serial.events);
        EXPECT_EQ(diff(par.after, serial.after), "");
      }
    }
  }
}

TEST(PollScanner, QuietTreeListsNothingAndBuildsNothing) {
  TempDir t;
  RandomTree tree(t.path(), 99);
  Live live = crawl(t.path());
  std::size_t dirs = 0;
  for (auto& [p, e] : flatten(live.model, live.root)) dirs += e.type == sys::FileType::dir;
  for (unsigned threads : {1u, 2u}) {
    PassResult pruned = pass(live, t.path(), false, threads, {});
    EXPECT_FALSE(pruned.scan.changed());
    EXPECT_EQ(pruned.scan.cost.dirs_listed, 0u);
    EXPECT_EQ(pruned.scan.cost.stats, dirs + 1);  // the root and each directory, once
    EXPECT_EQ(pruned.scan.cost.entries, 0u);
    PassResult full = pass(live, t.path(), true, threads, {});
    EXPECT_FALSE(full.scan.changed());
    EXPECT_EQ(full.scan.cost.dirs_listed, dirs + 1);
    EXPECT_EQ(full.scan.cost.entries, 0u);
    EXPECT_TRUE(full.events.empty());
  }
}

TEST(PollScanner, ChangeDeepDownDiffsOnlyItsDirectory) {
  TempDir t;
  lookout::testing::make_dirs(t / "a/b/c");
  for (int i = 0; i < 50; ++i) lookout::testing::write_file(t / ("a/f" + std::to_string(i)), "x");
  lookout::testing::write_file(t / "a/b/c/old", "x");
  Live live = crawl(t.path());
  lookout::testing::write_file(t / "a/b/c/new", "x");
  for (bool full : {false, true}) {
    PassResult r = pass(live, t.path(), full, 2, lookout::testing::snapshot(t.path()));
    EXPECT_EQ(r.scope, t / "a/b/c");
    EXPECT_EQ(r.fresh.size(), 2u);  // old and new, not the 50 files above
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0], "create " + (t / "a/b/c/new"));
  }
}

TEST(PollScanner, RenameBetweenDistantDirectoriesStaysOneRename) {
  TempDir t;
  lookout::testing::make_dirs(t / "x/y");
  lookout::testing::make_dirs(t / "z/w");
  lookout::testing::write_file(t / "x/y/f", "data");
  Live live = crawl(t.path());
  lookout::testing::rename_path(t / "x/y/f", t / "z/w/g");
  for (bool full : {false, true}) {
    PassResult r = pass(live, t.path(), full, 2, {});
    EXPECT_EQ(r.scope, t.path());  // the common ancestor of both directories
    ASSERT_GE(r.events.size(), 1u);
    EXPECT_EQ(r.events[0], "rename " + (t / "z/w/g") + " < " + (t / "x/y/f"));
    // rename(2) may touch the file's ctime: an attrib may follow, never a delete or create.
    for (std::size_t i = 1; i < r.events.size(); ++i)
      EXPECT_EQ(r.events[i], "attrib " + (t / "z/w/g"));
  }
}

TEST(PollScanner, RepeatedPassesSettleAfterChanges) {
  for (bool full : {false, true}) {
    TempDir t;
    RandomTree tree(t.path(), 7);
    Live live = crawl(t.path());
    tree.mutate(30);
    // The first pass reports the changes. reconcile() keeps a renamed directory's old stamps
    // (it diffs its entries, not its own stat), so the next pass may read that directory once
    // more, silently; after that the tree is quiet.
    std::vector<std::size_t> events;
    for (int i = 0; i < 3; ++i) {
      TreeModel fresh;
      PollScan scan;
      ASSERT_TRUE(poll_scan(live.model, live.root, fresh, t.path(), full, {}, {}, scan, 2));
      std::size_t n = 0;
      DiffSink sink;
      sink.event = [&](EventKind, const std::string&, const std::string&, bool) { ++n; };
      reconcile_poll(live.model, live.root, fresh, scan, sink);
      events.push_back(n);
    }
    EXPECT_GT(events[0], 0u);
    EXPECT_EQ(events[1], 0u);
    PassResult again = pass(live, t.path(), full, 2, {});
    EXPECT_FALSE(again.scan.changed()) << (full ? "full" : "pruned") << " scope " << again.scope;
  }
}

// A directory that changes between the two halves of a pass (after find_changed_dirs() took
// it for unchanged, before its changed parent is read again) must not take its new stamps
// over the model's old entries: no later pruned pass would read it again.
TEST(PollScanner, DirectoryChangedDuringThePassIsNotLost) {
  int exercised = 0;
  for (int attempt = 0; attempt < 20 && exercised < 3; ++attempt) {
    TempDir t;
    lookout::testing::make_dirs(t / "p/c");
    for (int i = 0; i < 50; ++i) lookout::testing::write_file(t / ("p/f" + std::to_string(i)), "x");
    lookout::testing::write_file(t / "p/c/victim", "x");
    Live live = crawl(t.path());
    lookout::testing::write_file(t / "p/new", "x");  // p must be read again
    // The exclusion check runs for each entry of p as it is read: the hook to change p/c
    // while the pass is under way, before p/c itself is looked at.
    bool seen_c = false, removed = false;
    ExcludedFn during = [&](const std::string& path, bool) {
      if (path == t / "p/c") seen_c = true;
      if (!seen_c && !removed) removed = ::unlink((t / "p/c/victim").c_str()) == 0;
      return false;
    };
    std::vector<std::string> events;
    for (int pass_no = 0; pass_no < 2; ++pass_no) {
      TreeModel fresh;
      PollScan scan;
      ASSERT_TRUE(poll_scan(live.model, live.root, fresh, t.path(), false, during, {}, scan, 1));
      DiffSink sink;
      sink.event = [&](EventKind k, const std::string& path, const std::string&, bool) {
        events.push_back(std::string(event_kind_name(k)) + " " + path);
      };
      reconcile_poll(live.model, live.root, fresh, scan, sink);
    }
    if (!removed) continue;  // p/c came first in p's listing: the window was not hit
    ++exercised;
    EXPECT_EQ(std::count(events.begin(), events.end(), "delete " + (t / "p/c/victim")), 1)
        << ::testing::PrintToString(events);
  }
  EXPECT_GT(exercised, 0) << "p/c was listed first every time";
}

TEST(PollScanner, ExclusionsAreHonouredOnEveryThread) {
  TempDir t;
  for (int d = 0; d < 40; ++d) {
    std::string dir = t / ("d" + std::to_string(d));
    lookout::testing::make_dirs(dir + "/skip.me");
    lookout::testing::write_file(dir + "/keep", "x");
    lookout::testing::write_file(dir + "/skip.file", "x");
  }
  std::atomic<int> asked{0};
  ExcludedFn excluded = [&](const std::string& p, bool) {
    ++asked;
    return p.find("/skip.") != std::string::npos;
  };
  Live live;
  {
    TreeModel first;
    PollScan scan;
    ASSERT_TRUE(poll_scan(live.model, kNoNode, first, t.path(), true, excluded, {}, scan, 1));
    live.root = live.model.add_root(t.path(), scan.root_st);
    reconcile(live.model, live.root, first, scan.fresh_dir, {});
  }
  EXPECT_EQ(live.model.size(), 1u + 40 * 2);  // root, dN, dN/keep
  for (unsigned threads : {1u, 2u, 4u}) {
    asked = 0;
    PassResult r = pass(live, t.path(), true, threads, {}, excluded);
    EXPECT_FALSE(r.scan.changed()) << r.scope;
    EXPECT_GT(asked.load(), 0);
  }
  lookout::testing::write_file(t / "d3/skip.new", "x");
  for (unsigned threads : {1u, 2u}) {
    PassResult r = pass(live, t.path(), false, threads, {}, excluded);
    EXPECT_TRUE(r.events.empty()) << r.events.front();
  }
}

// Through the watcher, on a model large enough for the scan to use its threads: the exclusion
// predicate (the watcher's filter, which reads its model) runs on them.
LOOKOUT_TEST(PollScanner, WatcherPollsALargeTreeOnThreadsWithFilters, LABELS(slow)) {
  TempDir t;
  for (int d = 0; d < 100; ++d) {
    std::string dir = t / ("d" + std::to_string(d));
    lookout::testing::make_dirs(dir);
    for (int f = 0; f < 45; ++f) lookout::testing::write_file(dir + "/f" + std::to_string(f), "x");
    lookout::testing::write_file(dir + "/skip.tmp", "x");
  }
  WatchOptions o;
  o.paths = {t.path()};
  o.backend = BackendChoice::poll;
  o.exclude_globs = {"*.tmp"};
  auto w = lookout::testing::start_watcher(o);
  ASSERT_TRUE(w);
  ASSERT_GT(w->stats().nodes, 4096u);  // past the threshold for threads
  std::vector<Event> announced;  // the backend decision, made at start
  w->next_batch(announced, 0);
  ASSERT_EQ(announced.size(), 1u);
  EXPECT_EQ(announced[0].kind, EventKind::backend);
  lookout::testing::write_file(t / "d42/new", "x");
  lookout::testing::write_file(t / "d43/new.tmp", "x");
  lookout::testing::append_file(t / "d7/f3", "more");
  w->poll_now();  // a full pass
  std::vector<Event> got;
  w->next_batch(got, 0);
  std::vector<std::string> seen;
  for (const auto& e : got)
    seen.push_back(std::string(lookout::event_kind_name(e.kind)) + " " + e.path);
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> want = {"create " + (t / "d42/new"), "modify " + (t / "d7/f3")};
  EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace lookout::core
