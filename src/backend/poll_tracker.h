// PollTracker: the polling backend. It owns which subtrees are polled (past the watch
// limit, on filesystems the kernel cannot see, or everything with --backend poll) and when
// the next pass is due (the adaptive interval), and runs a pass: poll_scan() finds what
// changed, reconcile_poll() diffs it into the engine's model, and what that means is said
// through a PollHost. It has no fd: the loop runs it when due_ms() comes.
// Loop thread only.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "backend/poll_changes.h"
#include "core/tree_model.h"
#include "sys/fs.h"
#include "lookout/event.h"
#include "lookout/result.h"

namespace lookout::backend {

// What a pass needs from the engine that owns the model.
class PollHost {
 public:
  virtual ~PollHost() = default;
  // The live model; the pass diffs into it (it must not change otherwise during a pass).
  virtual core::TreeModel& model() = 0;
  // Emits an event about a node of the model, or about a path under `root`.
  virtual void report(EventKind kind, core::NodeId id) = 0;
  virtual void report_path(EventKind kind, const std::string& path, const std::string& from,
                           bool is_dir, core::NodeId root) = 0;
  // The root is gone (`how`: "deleted", "unmounted", ...): reported and dropped.
  virtual void root_gone(core::NodeId root, const char* how) = 0;
  // A directory `name` appeared in `dir` (uncovered by an unmount): reported and watched.
  virtual void appeared(core::NodeId dir, const std::string& name) = 0;
  // A subtree polled for the watch limit: true when a kernel watch now fits, in which case
  // the host watched it, stopped polling it (PollTracker::stop), reported its new entries.
  virtual bool rewatch(core::NodeId dir) = 0;
  // Whether `dir` holds a kernel watch.
  virtual bool watched(core::NodeId dir) const = 0;
  // Watches and lists `dir`, reporting what it holds as created.
  virtual void catch_up(core::NodeId dir) = 0;
  // A root, or a directory on another device than its parent.
  virtual bool at_mount_boundary(core::NodeId dir) const = 0;
  // --checksum: hashes the fresh subtree's files (a no-op without it).
  virtual void hash(core::NodeId live_dir, core::TreeModel& fresh, core::NodeId fresh_dir) = 0;
  // After a pass: changes through one name of a hard-linked file echoed to its others.
  virtual void end_of_pass() = 0;
  virtual ExcludedFn exclusion() = 0;
  virtual void warn(const Error& e) = 0;
  // The crawl's files without a stat were last seen unchanged then (see core::DiffSink).
  virtual std::int64_t unstat_since_ns() const = 0;
  virtual std::int64_t now_ms() const = 0;  // the engine's monotonic clock
  // The filesystem a pass stats and lists (the walk may use it from several threads when
  // the tree is large: see kMaxPollThreads).
  virtual sys::Fs& fs() = 0;
};

struct PollOptions {
  int min_ms = 250;            // the interval after a change
  int max_ms = 2000;           // ... doubling up to this while quiet
  // A full pass (every entry stat'ed: the only way to see a write into an existing file)
  // this often; 0: from the budget below (full_pass_interval_ms).
  int full_every_ms = 0;
  bool always_full = false;
  bool recursive = true;
};

// Full passes cost in proportion to the tree. With no fixed interval they may take this share
// of the time (one core's): a 2,000-file tree (~2 ms a pass) is fully polled every --poll-min
// and sees an in-place write within a second, a 500,000-file tree (~1 s) every 30 s at most
// often, as before: never dearer than a fixed 30 s, and never slower to notice a write.
inline constexpr double kFullPassBudget = 0.01;
inline constexpr int kFullPassMaxIntervalMs = 30000;

// The interval after a full pass that cost `cost_us` (the larger of its elapsed time and the
// CPU time the process spent in it: threads walk a large tree in parallel, and on a network
// filesystem the elapsed time is the server's load; the elapsed time without what the loop
// thread waited for a CPU, so a busy machine does not stretch it). Pure, for tests.
int full_pass_interval_ms(std::int64_t cost_us, int min_ms);

// The last few full passes' costs: the interval follows the cheapest, so one pass slowed by
// an interrupt or a page fault does not stretch the next interval (a 2,000-file tree's passes
// cost 7-11 ms on the bench machine: a second at the top of that range, 0.7 s at its foot).
// A tree that grew costs more in every pass, so the cheapest catches up within kKept passes.
class RecentCosts {
 public:
  static constexpr std::size_t kKept = 4;
  void add(std::int64_t cost_us) { costs_[seen_++ % kKept] = cost_us; }
  std::int64_t cheapest() const {
    const std::size_t n = std::min(seen_, kKept);
    return n == 0 ? 0 : *std::min_element(costs_.begin(), costs_.begin() + n);
  }

 private:
  std::array<std::int64_t, kKept> costs_{};
  std::size_t seen_ = 0;
};

struct PollCounters {
  std::uint64_t passes = 0;
  std::uint64_t stats = 0;  // stat calls made
};

class PollTracker {
 public:
  explicit PollTracker(PollOptions opt) : opt_(opt) {}

  // Polls `dir`'s subtree from now on. `why` (the watch limit's error) is said once, with
  // what is done instead. False if it was polled already.
  bool start(core::NodeId dir, const Error* why, PollHost& host);
  // `dir` is no longer polled (removed from the model, or back under a kernel watch).
  void stop(core::NodeId dir) { polled_.erase(dir); }
  // Whether `dir` or a directory above it is polled.
  bool covers(const core::TreeModel& model, core::NodeId dir) const;
  bool empty() const { return polled_.empty(); }
  std::size_t size() const { return polled_.size(); }

  // When the next pass is due (monotonic ms); meaningless while empty().
  std::int64_t due_ms() const { return next_ms_; }
  // Whether the pass due at `now_ms` is a full one.
  bool full_due(std::int64_t now_ms) const {
    return opt_.always_full || now_ms - last_full_ms_ >= full_interval_ms_;
  }
  // The interval between full passes now (fixed, or from the last one's cost).
  int full_interval_ms() const { return full_interval_ms_; }
  // A full pass counts from here (the end of the start-up crawl).
  void full_pass_done_at(std::int64_t now_ms) { last_full_ms_ = now_ms; }
  // One pass over every polled subtree; the next is scheduled from its end.
  void pass(bool full, PollHost& host);
  const PollCounters& counters() const { return counters_; }

 private:
  // A polled root that is a file: its own stamps, compared as inotify would report them.
  bool poll_file_root(core::NodeId root, PollHost& host);
  // A polled root whose stat `now` shows it deleted, replaced or unmounted.
  bool root_gone(core::NodeId root, const sys::FileStat& now, PollHost& host);
  // A polled mount point inside the tree found on another device (unmounted).
  bool mount_gone(core::NodeId dir, const sys::FileStat& now, PollHost& host);

  PollOptions opt_;
  std::unordered_set<core::NodeId> polled_;
  std::int64_t next_ms_ = 0;
  std::int64_t last_full_ms_ = 0;
  // Until a full pass was measured: the first comes soon, and tells what the tree costs.
  int full_interval_ms_ = opt_.full_every_ms > 0 ? opt_.full_every_ms : opt_.min_ms;
  RecentCosts full_costs_;
  int interval_ms_ = 0;
  bool warned_watch_limit_ = false;
  std::unordered_set<std::string> warned_;  // polling errors already said (bounded)
  PollCounters counters_;
};

}  // namespace lookout::backend
