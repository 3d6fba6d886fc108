// Syncer: `lookout sync`'s logic over one Subscription, without owning the Watcher or the
// process's signals, so the command line and (later) a daemon job drive it alike: wait on
// fds() for wait_ms(), then call step(). Batches complete changes (batch::Batcher: a file
// still being written is not sent; a burst is one batch, sent at most max_delay after its
// first change), turns each batch into paths and hands them to every target's own queue
// (TargetQueue). Each target runs at most one rsync at a time, supervised here (proc::Child,
// its pidfd in fds()), so a target that is down, slow or failing never delays the others.
// With a SyncState, paths are recorded before they are sent and confirmed after rsync
// succeeded. One thread (the one that made it: children die with it, PR_SET_PDEATHSIG).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batch/batcher.h"
#include "lookout/subscription.h"
#include "proc/child.h"
#include "store/sync_state.h"
#include "sync/rsync_command.h"
#include "sync/sync_options.h"
#include "sync/target_queue.h"
#include "sys/unique_fd.h"

namespace lookout::sync {

struct TargetStats {
  std::uint64_t transfers = 0, failed = 0;
  std::uint64_t files = 0, deleted = 0, bytes = 0;
  std::uint64_t repaired = 0;  // by verify passes
};

class Syncer {
 public:
  static constexpr std::int64_t kSettleMs = 2000;
  // `events` may be null (--once: no watching). `state` may be null (no --state). `log`:
  // lookout's own lines (stderr); `out`: --json lines (stdout).
  Syncer(const SyncOptions& options, RsyncCommand command, Subscription* events, store::SyncState* state,
         std::FILE* log, std::FILE* out);
  ~Syncer();

  // What each target must be sent first: a full pass, or (with a state that has seen the
  // target before) what it had not confirmed. `restarted`: the engine's state was loaded, so
  // the changes made meanwhile follow as events and are sent with rsync's quick check.
  Result<void> begin(bool restarted, std::int64_t now_ms);
  std::vector<int> fds() const;
  int wait_ms(std::int64_t now_ms) const;
  // Takes changes, starts and reaps transfers. False once done: --once after every target's
  // first pass, or the watcher ended and everything was sent (or the state failed).
  bool step(std::int64_t now_ms);
  // A verify pass on every target now (SIGHUP).
  void verify_now();
  // Stops the running transfers (TERM, then KILL after stop_timeout), takes what the
  // subscription still holds and records everything unconfirmed. Call after the watcher
  // stopped (so the subscription's end is near).
  void stop(std::int64_t now_ms);
  // The subscription's log position before which every change taken is recorded as pending
  // in the state (or was sent): WatchOptions::durable_through. 0 without a state.
  std::uint64_t durable_through() const { return durable_through_; }
  // 0; 1 when the state could not be written, or with --once when a target failed.
  int exit_code() const { return exit_code_; }
  const TargetStats& stats(std::size_t target) const;

 private:
  struct Target;
  void take_events(std::int64_t now_ms);
  void enqueue(const std::vector<Event>& batch, bool quick_check);
  void start_transfer(Target& t, std::int64_t now_ms);
  void finish_transfer(Target& t, std::int64_t now_ms);
  void finish_move(Target& t, int code, std::int64_t now_ms);
  // The --json `transfer` line of the job that just ended.
  void emit_transfer(const Target& t, const RsyncStats& rs, bool ok, int code, const std::string& err,
                     std::int64_t now_ms);
  // Ends the job in flight; on success the state forgets the paths it confirmed.
  void finish_job(Target& t, bool ok, std::int64_t now_ms);
  void say(const std::string& line);
  void emit(const std::string& json_line);
  void record(const std::vector<std::string>& targets, const std::vector<std::string>& paths);

  SyncOptions opt_;
  RsyncCommand command_;
  Subscription* events_;
  store::SyncState* state_;
  std::FILE* log_;
  std::FILE* out_;
  batch::Batcher batcher_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::vector<Event> scratch_;
  bool ended_ = false;
  bool quick_until_live_ = false;  // the restart diff is being taken
  bool failed_state_ = false;
  int exit_code_ = 0;
  std::int64_t next_verify_ms_ = INT64_MAX;
  std::uint64_t durable_through_ = 0;
  sys::UniqueFd devnull_;
};

}  // namespace lookout::sync
