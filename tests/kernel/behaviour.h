// The behaviour suite's fixture: one row per backend and filesystem (inotify, fanotify and
// polling, each on the test temp directory, a tmpfs, and loop-mounted xfs and btrfs made for
// the test, root only), and the helpers its tests share. Rows skip with the reason when their
// filesystem or backend cannot be had. Instantiated once, in watcher_test.cc; TEST_Ps of the
// suite may live in any file of the kernel test binary.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "support/consumer_state.h"
#include "support/fanotify_skip.h"
#include "support/loop_mount.h"
#include "support/test_dirs.h"

namespace lookout::behaviour {

using testing::Recorder;
using testing::TempDir;

// The consumer's view: applies events in order to a set of paths (see README semantics).
using State = testing::ConsumerState;
using testing::apply_event;
using testing::diff_states;
using testing::snapshot;

enum class Fs { tmpdir, tmpfs, xfs, btrfs };

struct Case {
  BackendChoice backend;
  Fs fs;  // tmpdir: the usual temp directory ($LOOKOUT_TEST_TMP or /tmp)
};

inline std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const char* b = info.param.backend == BackendChoice::fanotify ? "fanotify"
                  : info.param.backend == BackendChoice::inotify ? "inotify"
                  : info.param.backend == BackendChoice::poll    ? "poll"
                                                                  : "auto";
  const char* f = info.param.fs == Fs::tmpfs ? "tmpfs"
                  : info.param.fs == Fs::xfs ? "xfs"
                  : info.param.fs == Fs::btrfs ? "btrfs"
                                               : "tmpdir";
  return std::string(b) + "_on_" + f;
}

inline void PrintTo(const Case& c, std::ostream* os) { *os << case_name(::testing::TestParamInfo<Case>(c, 0)); }

class Behaviour : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Fs f = GetParam().fs;
    if (f == Fs::tmpfs) {
      if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a tmpfs";
      mount_ = std::make_unique<testing::TmpfsMount>();
      if (!mount_->ok()) GTEST_SKIP() << mount_->why();
    } else if (f == Fs::xfs || f == Fs::btrfs) {
      const char* mkfs = f == Fs::xfs ? "mkfs.xfs" : "mkfs.btrfs";
      if (!testing::is_root_user()) GTEST_SKIP() << "needs root to loop-mount " << mkfs << " images";
      if (!testing::have_program(mkfs)) GTEST_SKIP() << mkfs << " is not installed (xfsprogs / btrfs-progs)";
      // xfs needs 300 MB at least; the image is sparse, so this costs little disk.
      loop_ = std::make_unique<testing::LoopMount>(std::string(mkfs) + " -q -f", "320M");
      if (!loop_->ok()) GTEST_SKIP() << loop_->why();
    }
    if (GetParam().backend == BackendChoice::fanotify) {
      std::string why = testing::fanotify_unavailable(base());
      if (!why.empty()) GTEST_SKIP() << why;
    }
  }

  bool fanotify() const { return GetParam().backend == BackendChoice::fanotify; }
  bool polling() const { return GetParam().backend == BackendChoice::poll; }
  // Polling compares the tree between passes: it never sees a close, and it cannot tell the
  // order of changes made within one pass. Tests of what only a kernel queue shows skip.
  // What a new file written and closed is reported as: close_write, or by polling a create.
  EventKind written_new() const { return polling() ? EventKind::create : EventKind::close_write; }
  // Where this row's temp directories go.
  std::string base() const {
    if (mount_) return mount_->path();
    if (loop_) return loop_->path();
    const char* env = std::getenv("LOOKOUT_TEST_TMP");
    return env && *env ? env : "/tmp";
  }
  WatchOptions opts_for(const std::string& root) const {
    WatchOptions o;
    o.paths = {root};
    o.backend = GetParam().backend;
    if (polling()) {
      // Passes every 10-50 ms, each stat'ing every entry: these trees are small, and an
      // append must not wait for the periodic full pass (PollBackend tests cover pruning).
      o.poll_min_ms = 10;
      o.poll_max_ms = 50;
      o.poll_full = true;
    }
    return o;
  }
  // The kernel queue limit this row's backend reads when its instance is created.
  std::string queue_sysctl() const {
    return fanotify() ? "/proc/sys/fs/fanotify/max_queued_events" : "/proc/sys/fs/inotify/max_queued_events";
  }

  // Both outlive every TempDir of the test body (members die after the body's locals).
  std::unique_ptr<testing::TmpfsMount> mount_;
  std::unique_ptr<testing::LoopMount> loop_;
};


// The first `n` lines of a long report (a failed diff can list thousands of paths).
inline std::string head(const std::string& text, std::size_t n = 40) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n && pos != std::string::npos; ++i) {
    pos = text.find('\n', pos);
    if (pos != std::string::npos) ++pos;
  }
  return pos == std::string::npos || pos >= text.size() ? text : text.substr(0, pos) + "...\n";
}

// The first few of `want` not in `got`.
inline std::string first_missing(const std::set<std::string>& want, const std::set<std::string>& got) {
  std::string out;
  int n = 0;
  for (const auto& p : want) {
    if (got.count(p)) continue;
    if (++n > 5) return out + "...";
    out += p + " ";
  }
  return out;
}

// For a failed diff: the path of its first line ("" if none).
inline std::string first_path(const std::string& diff) {
  std::size_t at = diff.find(' ');
  if (at == std::string::npos) return "";
  return diff.substr(at + 1, diff.find('\n', at) - at - 1);
}

// The events whose path or source starts with `path` (so also "path-x" after a rename and
// back), at most one level below it, one per line.
inline std::string events_about(const std::vector<Event>& events, const std::string& path) {
  if (path.empty()) return "";
  std::string out = "events about " + path + ":\n";
  auto about = [&](const std::string& p) {
    if (p.empty() || p.rfind(path, 0) != 0) return false;
    std::size_t slash = p.find('/', path.size());
    return slash == std::string::npos || p.find('/', slash + 1) == std::string::npos;
  };
  for (const auto& e : events) {
    if (about(e.path) || about(e.from)) {
      out += std::string(event_kind_name(e.kind)) + " " + e.path + (e.from.empty() ? "" : " from " + e.from) +
             (e.reason.empty() ? "" : " (" + e.reason + ")") + "\n";
    }
  }
  return head(out, 80);
}

// The create of `first` (at either of its two paths: before or after a rename) was
// reported, and before the create of `later`.
inline void expect_created_before(Recorder& r, const std::pair<std::string, std::string>& first,
                           const std::string& later) {
  auto index_of = [&](const std::string& path) {
    const auto& ev = r.events();
    for (std::size_t i = 0; i < ev.size(); ++i) {
      if (ev[i].kind == EventKind::create && ev[i].path == path) return static_cast<long>(i);
    }
    return -1L;
  };
  long f = std::max(index_of(first.first), index_of(first.second));
  long l = index_of(later);
  EXPECT_GE(f, 0) << r.dump();
  EXPECT_GE(l, 0) << r.dump();
  EXPECT_LT(f, l) << r.dump();
}

// Applies every event recorded so far to `consumer` (the tree as it was) and returns how it
// differs from the tree on disk now: "" when the events add up.
inline std::string unexplained(State& consumer, Recorder& r, const std::string& root) {
  for (const auto& e : r.events()) apply_event(consumer, e);
  return diff_states(snapshot(root), consumer);
}

// A grid of directories dI/eJ, each holding a file f.
inline std::string grid_dir(int i, int j) { return "d" + std::to_string(i) + "/e" + std::to_string(j); }
inline void make_grid(const TempDir& t, int top, int sub) {
  for (int i = 0; i < top; ++i) {
    for (int j = 0; j < sub; ++j) {
      testing::make_dirs(t / grid_dir(i, j));
      testing::write_file(t / grid_dir(i, j) + "/f", "x");
    }
  }
}

// Appends to every file of the grid and expects a modify for each at its path.
inline void expect_every_write_reported(Recorder& r, const TempDir& t, int top, int sub) {
  std::set<std::string> want, got;
  for (int i = 0; i < top; ++i) {
    for (int j = 0; j < sub; ++j) {
      testing::append_file(t / grid_dir(i, j) + "/f", "y");
      want.insert(t / grid_dir(i, j) + "/f");
    }
  }
  EXPECT_TRUE(r.wait_until([&](const std::vector<Event>& evs) {
    for (const auto& e : evs) if (e.kind == EventKind::modify && want.count(e.path)) got.insert(e.path);
    return got.size() == want.size();
  })) << got.size() << " of " << want.size() << " writes reported; not: " << first_missing(want, got);
}

// fanotify rows are ready before the model is whole (the crawl runs in step()); inotify rows
// are whole at ready. Steps until the crawl is done.
inline bool wait_crawled(Recorder& r, Watcher& w) {
  return r.wait_until([&](const std::vector<Event>&) { return !w.stats().crawling; });
}

}  // namespace lookout::behaviour
