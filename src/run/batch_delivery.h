// How a batch reaches the program, never through a shell: LOOKOUT_CHANGED (how many paths),
// LOOKOUT_EVENTS_FILE (JSON Lines, the schema of `watch --json`, removed after the run),
// the changed paths as arguments (--arg-files, any bytes), and the batch on stdin
// (--stdin-events json: JSON Lines; null: NUL-terminated paths). Owns the temporary files
// of one run; one thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lookout/event.h"
#include "lookout/result.h"
#include "proc/child.h"
#include "run/run_options.h"
#include "sys/unique_fd.h"

namespace lookout::run {

class BatchDelivery {
 public:
  BatchDelivery() = default;
  BatchDelivery(BatchDelivery&& o) noexcept
      : spawn_(std::move(o.spawn_)), events_file_(std::exchange(o.events_file_, {})), stdin_(std::move(o.stdin_)) {}
  BatchDelivery& operator=(BatchDelivery&&) = delete;
  ~BatchDelivery();  // removes the events file

  // The spawn options for one run of `o.command` over `batch`. An Error names the temporary
  // directory when the events file cannot be written (a full disk).
  static Result<BatchDelivery> prepare(const RunOptions& o, const std::vector<Event>& batch);
  const proc::SpawnOptions& spawn() const { return spawn_; }

 private:
  proc::SpawnOptions spawn_;
  std::string events_file_;
  sys::UniqueFd stdin_;
};

// Removes the events files that lookouts killed hard (SIGKILL) left in the temporary
// directory: those whose pid runs no more.
void remove_stale_event_files();

// The distinct paths a batch changed (a rename's both sides), in order.
std::vector<std::string> changed_paths(const std::vector<Event>& batch);

}  // namespace lookout::run
