// TargetQueue: one target's share of `lookout sync`: the paths not yet sent to it (a set, so
// memory is bounded by the number of distinct paths, not by events, however long it is
// down), at most one transfer in flight, and its health. A failed transfer puts its paths
// back and the next try waits 1 s, 2 s, 4 s ... up to retry_max; a success confirms what
// was sent and resets the backoff. Pure: the caller gives the time and runs rsync. One thread.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sync/remote_move.h"
#include "sync/rsync_command.h"

namespace lookout::sync {

enum class TargetHealth { starting, up, retrying, down };
const char* health_name(TargetHealth h);  // "starting", "up", "retrying", "down"

struct TargetJob {
  PassKind kind = PassKind::incremental;
  bool checksum = false;      // full/verify: --checksum
  bool quick_check = false;   // incremental: let rsync skip files whose stamps match
  std::vector<std::string> paths;  // incremental: relative to SOURCE, sorted
  std::vector<DirMove> moves;      // move: replayed in order before anything else is sent
};

class TargetQueue {
 public:
  static constexpr int kDownAfter = 3;  // failed tries in a row before a target is "down"

  explicit TargetQueue(std::int64_t retry_max_ms) : retry_max_ms_(retry_max_ms) {}

  // A changed path (relative to SOURCE). `quick_check`: found by the restart diff.
  void add(const std::string& path, bool quick_check = false);
  // A directory rename to replay on the target before the paths added after it are sent
  // (take() hands out moves first). If the replay fails, `content` is sent instead.
  void add_move(DirMove move);
  // A full pass (it covers every path pending when it starts); `verify` reports what it repaired.
  void add_full(bool verify = false, bool checksum = false);

  bool busy() const { return in_flight_; }
  bool has_work() const { return full_ || !paths_.empty() || !moves_.empty(); }
  // A transfer may start now: idle, something to send, and the backoff over.
  bool ready(std::int64_t now_ms) const { return !in_flight_ && has_work() && now_ms >= next_try_ms_; }
  // When ready() becomes true, if nothing else changes (INT64_MAX: not before new work).
  std::int64_t next_try_ms() const;

  // Moves what is pending into the one transfer in flight. REQUIRES: ready().
  TargetJob take();
  // The transfer in flight ended. On success returns the paths it confirmed ("" for a full
  // pass) that were not changed again meanwhile; on failure they are pending again. A move
  // job's result changes neither health nor backoff (the next rsync tells): if it failed, the
  // moved content is pending instead.
  std::vector<std::string> finish(bool ok, std::int64_t now_ms);
  // The target is back (a probe reached it): the next try need not wait for the backoff.
  void retry_now() {
    if (!in_flight_) next_try_ms_ = 0;
  }
  // Stopping: the transfer in flight did not finish; what it held is pending again.
  void abandon();

  TargetHealth health() const { return health_; }
  int failures() const { return failures_; }
  // Paths pending or in flight (a full pass counts one).
  std::size_t pending() const;
  // Everything not confirmed: pending and in flight ("" for a full pass), for the state.
  std::vector<std::string> unconfirmed() const;

 private:
  void abandon_job();  // the job's paths (and full pass) pending again

  std::int64_t retry_max_ms_;
  std::set<std::string> paths_;
  std::set<std::string> quick_;  // of paths_: may skip files whose stamps match
  std::vector<DirMove> moves_;
  bool full_ = false, verify_ = false, checksum_ = false;
  bool in_flight_ = false;
  TargetJob job_;
  bool job_full_ = false;
  std::vector<std::string> job_paths_;  // what the job will confirm
  TargetHealth health_ = TargetHealth::starting;
  int failures_ = 0;
  std::int64_t next_try_ms_ = 0;
};

}  // namespace lookout::sync
