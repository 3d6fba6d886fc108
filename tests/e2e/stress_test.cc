// Seeded randomized stress through the real binary: `lookout watch -m -r --json ROOT` while
// the test hammers ROOT with creates, appends, truncates, renames (files over files, deep
// directories, directories over empty directories), mkdir -p chains, moves out of the tree
// and back in, rm -rf and unlinks at full speed. Then a cookie file; the JSON events applied
// in order to the starting snapshot must give exactly the tree on disk.
//
// LOOKOUT_STRESS_SEED=N runs that seed only (else 3 seeds from the clock);
// LOOKOUT_STRESS_OPS=N changes the number of operations per run (default 3000).
// On failure the seed, the differences, the operations and the events are printed/saved.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "sys/fanotify_probe.h"

namespace lookout::e2e {
namespace {

constexpr int kMaxDepth = 14;

std::vector<std::uint64_t> stress_seeds(int default_count) {
  if (const char* s = std::getenv("LOOKOUT_STRESS_SEED"); s && *s) return {std::strtoull(s, nullptr, 10)};
  auto base = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::microseconds(1));
  std::vector<std::uint64_t> seeds;
  for (int i = 0; i < default_count; ++i) seeds.push_back((base + static_cast<std::uint64_t>(i) * 7919) % 1000000007);
  return seeds;
}

int stress_ops() {
  if (const char* s = std::getenv("LOOKOUT_STRESS_OPS"); s && *s) return std::atoi(s);
  return 3000;
}

int depth_of(const std::string& rel) {
  return rel.empty() ? 0 : 1 + static_cast<int>(std::count(rel.begin(), rel.end(), '/'));
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool under(const std::string& p, const std::string& dir) {  // p strictly inside dir
  return dir.empty() ? !p.empty() : p.size() > dir.size() && p.compare(0, dir.size() + 1, dir + "/") == 0;
}

// Removes a tree on disk bottom-up (what rm -rf does).
bool remove_tree(const std::string& abs) {
  struct stat st;
  if (::lstat(abs.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) return ::unlink(abs.c_str()) == 0;
  std::vector<std::string> names;
  if (DIR* d = ::opendir(abs.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  bool ok = true;
  for (auto& n : names) ok = remove_tree(abs + "/" + n) && ok;
  return ::rmdir(abs.c_str()) == 0 && ok;
}

// Generates and performs random operations, keeping its own view of the tree (only to pick
// targets; the final truth is a walk of the disk).
class Mutator {
 public:
  Mutator(std::uint64_t seed, std::string root, std::string outside)
      : rng_(seed), root_(std::move(root)), outside_(std::move(outside)) {
    dirs_.insert("");
  }

  void build_initial() {
    for (int i = 0; i < 4; ++i) {
      std::string d = "d" + std::to_string(i);
      do_mkdir(d);
      for (int j = 0; j < 3; ++j) do_create(join(d, "f" + std::to_string(j)));
      if (i % 2 == 0) {
        do_mkdir(join(d, "sub"));
        do_create(join(d, "sub/deep"));
      }
    }
    do_create("top.txt");
    log_.clear();
  }

  void step() {
    std::size_t size = dirs_.size() + files_.size();
    bool big = size > 350;
    // weights: create, append, truncate, rename file, rename dir, mkdir -p, move out, move in,
    //          rm -rf, unlink, chmod
    std::vector<int> w = {18, 12, 5, 14, 8, 7, 3, 4, 3, 9, 3};
    if (big) {
      w[0] = 4;
      w[5] = 1;
      w[8] = 12;
      w[9] = 25;
    }
    std::discrete_distribution<int> pick(w.begin(), w.end());
    switch (pick(rng_)) {
      case 0: op_create(); break;
      case 1: op_append(); break;
      case 2: op_truncate(); break;
      case 3: op_rename_file(); break;
      case 4: op_rename_dir(); break;
      case 5: op_mkdir_chain(); break;
      case 6: op_move_out(); break;
      case 7: op_move_in(); break;
      case 8: op_rm_rf(); break;
      case 9: op_unlink(); break;
      case 10: op_chmod(); break;
    }
  }

  TreeSnapshot expected() const {
    TreeSnapshot t;
    for (auto& d : dirs_) {
      if (!d.empty()) t[d] = true;
    }
    for (auto& f : files_) t[f] = false;
    return t;
  }

  const std::vector<std::string>& log() const { return log_; }
  std::size_t failures() const { return failures_; }

 private:
  std::string abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  std::string new_name(char kind) {
    ++counter_;
    switch (rng_() % 8) {
      case 0: return std::string(1, kind) + " sp " + std::to_string(counter_);  // spaces
      case 1: return "\xc3\xa9t\xc3\xa9-" + std::string(1, kind) + std::to_string(counter_);  // UTF-8
      default: return std::string(1, kind) + std::to_string(counter_);
    }
  }

  template <typename Set>
  std::optional<std::string> random_of(const Set& s, const std::function<bool(const std::string&)>& ok = {}) {
    if (s.empty()) return std::nullopt;
    for (int tries = 0; tries < 8; ++tries) {
      auto it = s.begin();
      std::advance(it, static_cast<long>(rng_() % s.size()));
      if (!ok || ok(*it)) return *it;
    }
    return std::nullopt;
  }

  std::optional<std::string> random_dir(bool allow_root = true) {
    return random_of(dirs_, [&](const std::string& d) { return (allow_root || !d.empty()) && depth_of(d) < kMaxDepth; });
  }

  void fail(const std::string& what) {
    ++failures_;
    log_.push_back("!! FAILED: " + what + ": " + errno_text(errno));
  }

  bool write_to(const std::string& rel, int flags, const std::string& data) {
    int fd = ::open(abs(rel).c_str(), O_WRONLY | O_CLOEXEC | flags, 0644);
    if (fd < 0) return false;
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
  }

  void do_mkdir(const std::string& rel) {
    log_.push_back("mkdir " + rel);
    if (::mkdir(abs(rel).c_str(), 0755) != 0) return fail("mkdir " + rel);
    dirs_.insert(rel);
  }

  void do_create(const std::string& rel) {
    log_.push_back("create " + rel);
    if (!write_to(rel, O_CREAT | O_TRUNC, "x" + std::to_string(counter_))) return fail("create " + rel);
    files_.insert(rel);
  }

  void op_create() {
    auto d = random_dir();
    if (!d) return;
    do_create(join(*d, new_name('f')));
  }

  void op_append() {
    auto f = random_of(files_);
    if (!f) return op_create();
    log_.push_back("append " + *f);
    if (!write_to(*f, O_APPEND, std::string(1 + rng_() % 64, 'a'))) fail("append " + *f);
  }

  void op_truncate() {
    auto f = random_of(files_);
    if (!f) return op_create();
    log_.push_back("truncate " + *f);
    if (::truncate(abs(*f).c_str(), 0) != 0) fail("truncate " + *f);
  }

  void op_chmod() {
    auto f = random_of(files_);
    if (!f) return;
    log_.push_back("chmod " + *f);
    if (::chmod(abs(*f).c_str(), (rng_() & 1) ? 0600 : 0644) != 0) fail("chmod " + *f);
  }

  void op_unlink() {
    auto f = random_of(files_);
    if (!f) return;
    log_.push_back("unlink " + *f);
    if (::unlink(abs(*f).c_str()) != 0) return fail("unlink " + *f);
    files_.erase(*f);
  }

  void op_rename_file() {
    auto f = random_of(files_);
    if (!f) return op_create();
    std::string to;
    if (rng_() % 3 == 0 && files_.size() > 1) {
      auto t = random_of(files_, [&](const std::string& x) { return x != *f; });
      if (!t) return;
      to = *t;  // over an existing file
    } else {
      auto d = random_dir();
      if (!d) return;
      to = join(*d, new_name('r'));
    }
    log_.push_back("rename " + *f + " -> " + to);
    if (::rename(abs(*f).c_str(), abs(to).c_str()) != 0) return fail("rename " + *f);
    files_.erase(*f);
    files_.insert(to);
  }

  int subtree_height(const std::string& d) const {
    int h = 0;
    std::string prefix = d + "/";
    for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      h = std::max(h, depth_of(*it) - depth_of(d));
    }
    return h + 1;
  }

  bool dir_empty(const std::string& d) const {
    std::string prefix = d + "/";
    auto a = dirs_.lower_bound(prefix);
    auto b = files_.lower_bound(prefix);
    return (a == dirs_.end() || a->compare(0, prefix.size(), prefix) != 0) &&
           (b == files_.end() || b->compare(0, prefix.size(), prefix) != 0);
  }

  // Moves the bookkeeping of `from` (and everything under it) to `to`.
  void move_entries(const std::string& from, const std::string& to) {
    std::string prefix = from + "/";
    std::vector<std::string> ds, fs;
    for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
      ds.push_back(to + "/" + it->substr(prefix.size()));
      it = dirs_.erase(it);
    }
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
      fs.push_back(to + "/" + it->substr(prefix.size()));
      it = files_.erase(it);
    }
    dirs_.erase(from);
    if (!to.empty()) {
      dirs_.insert(to);
      dirs_.insert(ds.begin(), ds.end());
      files_.insert(fs.begin(), fs.end());
    }
  }

  void op_rename_dir() {
    auto s = random_dir(false);
    if (!s) return op_mkdir_chain();
    int h = subtree_height(*s);
    std::string to;
    if (rng_() % 5 == 0) {
      // over an existing empty directory
      auto e = random_of(dirs_, [&](const std::string& x) {
        return !x.empty() && x != *s && !under(x, *s) && !under(*s, x) && dir_empty(x) &&
               depth_of(x) - 1 + h <= kMaxDepth;
      });
      if (!e) return;
      to = *e;
    } else {
      auto d = random_of(dirs_, [&](const std::string& x) {
        return x != *s && !under(x, *s) && depth_of(x) + h <= kMaxDepth;
      });
      if (!d) return;
      to = join(*d, new_name('D'));
    }
    log_.push_back("rename dir " + *s + " -> " + to);
    if (::rename(abs(*s).c_str(), abs(to).c_str()) != 0) return fail("rename dir " + *s);
    dirs_.erase(to);
    move_entries(*s, to);
  }

  void op_mkdir_chain() {
    auto base = random_dir();
    if (!base) return;
    int n = 1 + static_cast<int>(rng_() % 5);
    std::string p = *base;
    std::string desc = "mkdir -p";
    for (int i = 0; i < n && depth_of(p) < kMaxDepth; ++i) {
      p = join(p, new_name('m'));
      if (::mkdir(abs(p).c_str(), 0755) != 0) {
        log_.push_back(desc);
        return fail("mkdir " + p);
      }
      dirs_.insert(p);
      desc += " " + p;
    }
    log_.push_back(desc);
    if (!p.empty()) do_create(join(p, "bottom" + std::to_string(counter_)));
  }

  void op_move_out() {
    auto s = random_dir(false);
    if (!s) return;
    std::string dst = outside_ + "/o" + std::to_string(++counter_);
    log_.push_back("move out " + *s + " -> " + dst);
    if (::rename(abs(*s).c_str(), dst.c_str()) != 0) return fail("move out " + *s);
    move_entries(*s, "");
    out_dirs_.push_back(dst);
  }

  void op_move_in() {
    if (out_dirs_.empty()) return op_move_out();
    std::size_t i = rng_() % out_dirs_.size();
    std::string src = out_dirs_[i];
    // Changed while away, sometimes.
    if (rng_() % 2 == 0) {
      std::string f = src + "/while_away" + std::to_string(++counter_);
      log_.push_back("create outside " + f);
      int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
    }
    TreeSnapshot inside = snapshot_tree(src);
    int h = 1;
    for (auto& [p, d] : inside) h = std::max(h, 1 + depth_of(p));
    auto d = random_of(dirs_, [&](const std::string& x) { return depth_of(x) + h <= kMaxDepth; });
    if (!d) return;
    std::string to = join(*d, new_name('I'));
    log_.push_back("move in " + src + " -> " + to);
    if (::rename(src.c_str(), abs(to).c_str()) != 0) return fail("move in " + src);
    out_dirs_.erase(out_dirs_.begin() + static_cast<long>(i));
    dirs_.insert(to);
    for (auto& [p, isdir] : inside) (isdir ? dirs_ : files_).insert(to + "/" + p);
  }

  void op_rm_rf() {
    auto s = random_dir(false);
    if (!s) return;
    log_.push_back("rm -rf " + *s);
    if (!remove_tree(abs(*s))) return fail("rm -rf " + *s);
    move_entries(*s, "");
  }

  std::mt19937_64 rng_;
  std::string root_, outside_;
  std::set<std::string> dirs_, files_;
  std::vector<std::string> out_dirs_;
  std::uint64_t counter_ = 0;
  std::vector<std::string> log_;
  std::size_t failures_ = 0;
};

std::string save_artifacts(std::uint64_t seed, const std::vector<std::string>& ops, const std::string& events,
                           const std::string& stderr_text) {
  const char* base = std::getenv("LOOKOUT_TEST_TMP");
  std::string prefix = std::string(base ? base : "/tmp") + "/lookout-stress-" + std::to_string(seed);
  std::ofstream o(prefix + ".ops");
  for (auto& l : ops) o << l << "\n";
  std::ofstream(prefix + ".events", std::ios::binary) << events;
  std::ofstream(prefix + ".stderr", std::ios::binary) << stderr_text;
  return prefix + ".{ops,events,stderr}";
}

struct RunResult {
  std::size_t rescans = 0;
  std::size_t events = 0;
  int extra_cookies = 0;  // cookies needed beyond the first before the trees matched
};

// Which mechanism the run asks lookout for.
enum class Backend { auto_select, poll, fanotify };

const char* backend_name(Backend b) {
  return b == Backend::poll ? "poll" : b == Backend::fanotify ? "fanotify" : "auto";
}

// One seeded run. `overflow`: give lookout's kernel instance (inotify, or fanotify's group) a
// 64-event queue, and stop it (SIGSTOP) for 150 of every 400 operations so that the queue
// certainly overflows while the tree keeps changing.
RunResult run_stress(std::uint64_t seed, int ops, bool overflow, Backend backend = Backend::auto_select) {
  RunResult result;
  std::cerr << "[ stress ] seed " << seed << " backend " << backend_name(backend)
            << (overflow ? " (forced overflow)" : "") << " - rerun with LOOKOUT_STRESS_SEED=" << seed << "\n";
  SCOPED_TRACE("seed " + std::to_string(seed) + ", backend " + backend_name(backend) +
               " (rerun with LOOKOUT_STRESS_SEED=" + std::to_string(seed) + ")");
  lookout::testing::TempDir tmp;
  const std::string root = tmp / "root";
  const std::string outside = tmp / "outside";
  ::mkdir(root.c_str(), 0755);
  ::mkdir(outside.c_str(), 0755);
  Mutator mut(seed, root, outside);
  mut.build_initial();
  const TreeSnapshot start = snapshot_tree(root);

  std::unique_ptr<LookoutProcess> lkp;
  std::vector<std::string> args = {"watch", "-m", "-r", "--json", "-q", root};
  if (backend == Backend::poll) {
    // Short intervals: a pass every 20-100 ms, so a cookie is seen soon after it is made.
    args.insert(args.end(), {"--backend", "poll", "--poll-min", "0.02", "--poll-max", "0.1"});
  } else if (backend == Backend::fanotify) {
    args.insert(args.end(), {"--backend", "fanotify"});
  }
  if (overflow) {
    std::string error;
    lkp = start_with_small_queue(args, 64, error,
                                 backend == Backend::fanotify ? "/proc/sys/fs/fanotify/max_queued_events"
                                                              : "/proc/sys/fs/inotify/max_queued_events");
    if (!lkp) {
      ADD_FAILURE() << error;
      return result;
    }
  } else {
    lkp = std::make_unique<LookoutProcess>(args);
    auto ready = lkp->next_record('\n', milliseconds(20000));
    if (!ready || *ready != "{\"event\":\"ready\"}") {
      ADD_FAILURE() << "no ready line\n" << lkp->describe();
      return result;
    }
  }
  LookoutProcess& lk = *lkp;

  ConsumerTree consumer(root, start);
  auto apply_available = [&] {
    while (auto rec = lk.next_record('\n', milliseconds(0))) consumer.apply_line(*rec);
  };

  for (int i = 0; i < ops; ++i) {
    if (overflow && i % 400 == 0 && i + 200 < ops) lk.signal(SIGSTOP);  // the queue must overflow
    if (overflow && i % 400 == 150) lk.signal(SIGCONT);
    mut.step();
    if (i % 32 == 31) {
      lk.pump(0);  // keep the pipe drained so lookout never blocks on us
      apply_available();
    }
  }
  if (overflow) lk.signal(SIGCONT);
  EXPECT_EQ(mut.failures(), 0u) << "the test's own operations failed; see the ops log";

  // Cookie sync: once the cookie's create is seen, everything before it has been reported.
  auto sync = [&](int n) {
    std::string cookie = root + "/.cookie-" + std::to_string(n);
    if (!write_small_file(cookie, "")) ADD_FAILURE() << "cannot write cookie " << cookie;
    auto end = Clock::now() + milliseconds(20000);
    while (Clock::now() < end) {
      auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now());
      auto rec = lk.next_record('\n', left);
      if (!rec) break;
      consumer.apply_line(*rec);
      auto o = parse_json_line(*rec);
      if (o && (*o)["event"] == "create" && json_path(*o, "path") == cookie) return true;
    }
    return false;
  };

  bool synced = sync(0);
  // Polling: the pass that reported the cookie may have listed some directories before the
  // last operations. The next pass starts after it ended, so a second cookie covers them.
  if (synced && backend == Backend::poll) synced = sync(100);
  std::string hang_info = synced ? "" : lk.describe_threads();
  TreeSnapshot real = snapshot_tree(root);
  std::string diff = diff_trees(real, consumer.tree());
  std::string first_diff = diff;
  // After an overflow the rescan can be delayed (storm backoff, up to 2 s) while later events,
  // the cookie's among them, keep coming: the cookie then arrives before the rescan's
  // differences. Keep syncing (a cookie per event batch) until the trees match or 15 s pass,
  // and report how many extra cookies that took.
  if (synced && !diff.empty() && consumer.rescans() > 0) {
    auto end = Clock::now() + milliseconds(15000);
    for (int n = 1; !diff.empty() && Clock::now() < end; ++n) {
      std::size_t before = consumer.rescans();
      // Wait for the pending rescan (or time out), then prove everything was seen.
      while (consumer.rescans() == before && Clock::now() < end) {
        auto rec = lk.next_record('\n', std::min(milliseconds(500), std::chrono::duration_cast<milliseconds>(end - Clock::now())));
        if (!rec) break;
        consumer.apply_line(*rec);
      }
      if (!sync(n)) break;
      ++result.extra_cookies;
      real = snapshot_tree(root);
      diff = diff_trees(real, consumer.tree());
    }
  }

  // SIGTERM: exit 0, everything flushed; whatever comes after the cookie still applies.
  lk.signal(SIGTERM);
  auto code = lk.wait_exit(milliseconds(10000));
  if (!code) ADD_FAILURE() << "lookout did not exit after SIGTERM; threads:\n" << lk.describe_threads();
  apply_available();
  EXPECT_EQ(code, std::optional<int>(0)) << lk.describe();
  EXPECT_TRUE(lk.out().empty() || lk.out().back() == '\n') << "output ends in a partial record";

  real = snapshot_tree(root);
  std::string final_diff = diff_trees(real, consumer.tree());
  result.rescans = consumer.rescans();
  result.events = consumer.applied();

  std::string counts;
  for (auto& [k, n] : consumer.counts()) counts += k + "=" + std::to_string(n) + " ";
  std::cerr << "[ stress ] seed " << seed << ": " << ops << " ops, " << consumer.applied() << " events ("
            << counts << "), " << real.size() << " entries at the end"
            << (result.extra_cookies ? ", extra cookies needed: " + std::to_string(result.extra_cookies) : "")
            << "\n";

  bool failed = !synced || !final_diff.empty() || !diff.empty() || !consumer.anomalies().empty() ||
                mut.failures() > 0 || ::testing::Test::HasFailure();
  std::string saved;
  if (failed) saved = save_artifacts(seed, mut.log(), lk.out(), lk.err());
  EXPECT_TRUE(synced) << "cookie never reported; seed " << seed << "\n"
                      << "threads when the cookie wait ended:\n" << hang_info << lk.describe();
  EXPECT_TRUE(final_diff.empty() && diff.empty())
      << "seed " << seed << ": the events do not add up to the tree on disk\n"
      << (first_diff.empty() ? "" : "after the first cookie:\n" + first_diff)
      << (diff.empty() ? "" : "after more cookies:\n" + diff)
      << (final_diff.empty() ? "" : "after exit:\n" + final_diff) << "rescans: " << consumer.rescans()
      << "\nanomalies:\n" << consumer.anomaly_report() << "ops and events saved to " << saved;
  if (backend != Backend::auto_select) {
    // One decision, for the root: no directory of this tree is a mount of its own.
    auto b = consumer.counts().find("backend");
    EXPECT_EQ(b == consumer.counts().end() ? 0u : b->second, 1u) << "backend records:\n" << lk.out().substr(0, 2000);
  }
  EXPECT_TRUE(consumer.anomalies().empty())
      << "seed " << seed << ": events that do not fit the consumer's tree:\n" << consumer.anomaly_report()
      << "ops and events saved to " << saved;
  TreeSnapshot real_without_cookies;
  for (auto& [p, d] : real) {
    if (p.rfind(".cookie-", 0) != 0) real_without_cookies[p] = d;
  }
  if (mut.expected() != real_without_cookies) {
    ADD_FAILURE() << "test bookkeeping differs from disk (test bug)\n"
                  << diff_trees(real_without_cookies, mut.expected());
  }
  return result;
}

TEST(Stress, RandomOperationsAddUpToTheTree) {
  for (std::uint64_t seed : stress_seeds(3)) {
    run_stress(seed, stress_ops(), false);
    if (HasFailure()) break;
  }
}

TEST(Stress, RandomOperationsAddUpToTheTreePolling) {
  for (std::uint64_t seed : stress_seeds(2)) {
    run_stress(seed, stress_ops(), false, Backend::poll);
    if (HasFailure()) break;
  }
}

// The skip reason when fanotify cannot be used here, or empty.
std::string fanotify_unavailable() {
  if (::geteuid() != 0) return "a fanotify filesystem mark needs root (CAP_SYS_ADMIN)";
  const char* base = std::getenv("LOOKOUT_TEST_TMP");
  sys::FanotifyProbe p = sys::probe_fanotify(base && *base ? base : "/tmp");
  return p.available ? "" : "fanotify is not usable here: " + p.reason;
}

TEST(Stress, RandomOperationsAddUpToTheTreeFanotify) {
  if (std::string why = fanotify_unavailable(); !why.empty()) GTEST_SKIP() << why;
  for (std::uint64_t seed : stress_seeds(3)) {
    run_stress(seed, stress_ops(), false, Backend::fanotify);
    if (HasFailure()) break;
  }
}

TEST(Stress, ForcedOverflowRescanStillAddsUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to lower /proc/sys/fs/inotify/max_queued_events";
  if (::access("/proc/sys/fs/inotify/max_queued_events", W_OK) != 0) {
    GTEST_SKIP() << "/proc/sys/fs/inotify/max_queued_events is not writable here";
  }
  for (std::uint64_t seed : stress_seeds(1)) {
    RunResult r = run_stress(seed, stress_ops(), true);
    EXPECT_GT(r.rescans, 0u) << "seed " << seed << ": no rescan reported with a 64-event queue";
  }
}

TEST(Stress, ForcedOverflowRescanStillAddsUpFanotify) {
  if (std::string why = fanotify_unavailable(); !why.empty()) GTEST_SKIP() << why;
  if (::access("/proc/sys/fs/fanotify/max_queued_events", W_OK) != 0) {
    GTEST_SKIP() << "/proc/sys/fs/fanotify/max_queued_events is not writable here";
  }
  for (std::uint64_t seed : stress_seeds(1)) {
    RunResult r = run_stress(seed, stress_ops(), true, Backend::fanotify);
    EXPECT_GT(r.rescans, 0u) << "seed " << seed << ": no rescan reported with a 64-event queue";
  }
}

}  // namespace
}  // namespace lookout::e2e
