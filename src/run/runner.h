// Runner: `lookout run`'s logic over one Subscription, without owning the Watcher or the
// process's signals, so the command line and (later) a daemon job drive it alike: wait on
// fds() for wait_ms(), then call step(). Filters each change, batches complete ones
// (batch::Batcher) and acts: runs the command (queued, restarted, signalled or skipped when
// busy), keeps a program running and restarts it, or signals another process. Owns its
// child process; one thread (the one that started it: PR_SET_PDEATHSIG is per thread).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "batch/batcher.h"
#include "lookout/subscription.h"
#include "proc/child.h"
#include "run/batch_delivery.h"
#include "run/change_filter.h"
#include "run/http_post.h"
#include "run/run_options.h"
#include "run/watch_plan.h"
#include "sys/content_hasher.h"

namespace lookout::run {

struct RunStats {
  std::uint64_t actions = 0;    // runs, restarts and signals sent
  std::uint64_t coalesced = 0;  // batches folded into a queued run
  std::uint64_t skipped = 0;    // batches dropped (--on-busy ignore)
  std::uint64_t failed = 0;     // runs that exited non-zero, signals that found no process
};

class Runner {
 public:
  // `log`: lookout's own lines (stderr for the CLI). REQUIRES: `events` outlives the Runner.
  Runner(RunOptions options, const WatchPlan& plan, Subscription& events, std::FILE* log);
  ~Runner();

  // Watches are live: says so in the action log (a {"event":"ready"} line).
  void announce_ready();
  // The initial action (or the program, in restart mode) starts now.
  void start(std::int64_t now_ms);
  // The fds to wait on (readable: call step()), and how long at most.
  std::vector<int> fds() const;
  int wait_ms(std::int64_t now_ms) const;
  // Takes what is ready, acts on what is due, reaps. False once done: --once after its
  // action, or the watcher ended and everything was acted on.
  bool step(std::int64_t now_ms);
  // Stops the program (stop signal, timeout, KILL) and runs nothing more.
  void stop();
  // 0, or with --once the action's exit status.
  int exit_code() const { return exit_code_; }
  const RunStats& stats() const { return stats_; }

 private:
  void take_events(std::int64_t now_ms);
  void act(std::vector<Event> batch, std::int64_t now_ms);
  void spawn(const std::vector<Event>& batch, std::int64_t now_ms, const char* why);
  void signal_targets(const std::vector<Event>& batch);
  void try_post(std::int64_t now_ms);
  void on_exit(std::int64_t now_ms);
  // `extra`: more JSON members, each starting with a comma.
  void log_action(const char* kind, const std::vector<Event>& batch, pid_t pid,
                  std::optional<int> status, std::int64_t duration_ms, const std::string& extra = {});
  void say(const std::string& line);
  // A Kubernetes update is told for every visible name of the volume: keep those asked for.
  bool in_scope(const std::string& path) const;
  // --skip-unchanged: whether `batch` changed no file's content since the last action (and
  // remembers the contents it sees now).
  bool unchanged(const std::vector<Event>& batch);
  std::optional<std::uint64_t> content_hash(const std::string& path);

  RunOptions opt_;
  Subscription& events_;
  std::FILE* log_;
  std::FILE* json_log_ = nullptr;
  std::vector<std::string> under_;  // WatchPlan::under
  std::unordered_map<std::string, std::uint64_t> hashes_;  // --skip-unchanged: content at the last action
  sys::ContentHasher hasher_;
  ChangeFilter filter_;
  batch::Batcher batcher_;
  std::optional<proc::Child> child_;
  std::optional<BatchDelivery> delivery_;  // the running command's temporary files
  std::vector<Event> running_batch_;
  std::vector<Event> queued_;  // what came while the command ran (--on-busy queue)
  bool queued_run_ = false;
  std::vector<Event> held_;    // restart mode, backing off after a crash: the next start's batch
  bool held_run_ = false;
  // HTTP mode: the batch being posted (batches that come meanwhile join it), the tries made.
  std::optional<PostTarget> post_target_;
  std::vector<Event> posting_;
  bool post_pending_ = false;
  int post_tries_ = 0;
  std::int64_t next_try_ms_ = 0;
  std::int64_t started_ms_ = 0;
  std::int64_t not_before_ms_ = 0;  // crash-loop backoff
  int quick_exits_ = 0;
  bool ended_ = false;   // the subscription has ended
  bool stopping_ = false;
  bool done_ = false;
  int exit_code_ = 0;
  RunStats stats_;
  std::vector<Event> scratch_;
};

}  // namespace lookout::run
