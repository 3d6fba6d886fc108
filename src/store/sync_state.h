// SyncState: `lookout sync --state DIR`. DIR holds the engine's tree model (tree.state, written
// by the Watcher) and this SQLite file (sync.sqlite, WAL mode): for each target the paths it
// has not confirmed yet (a transfer that has not succeeded), "" standing for a full pass, and
// the targets it has ever mirrored to (a new one gets a full pass). A path is added before it
// is sent and removed only after rsync reported success, so a restart (after TERM or kill -9)
// sends exactly what was not confirmed, and never the whole tree again.
// One process per DIR: an exclusive flock on DIR/lock (two syncs would each confirm what the
// other sent). Not thread-safe.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::store {

class SyncState {
 public:
  // Makes DIR if missing, takes the lock and opens (or creates) DIR/sync.sqlite. An Error
  // naming DIR when it cannot be written, is locked by another process, or holds a file that
  // is not a lookout sync state.
  static Result<std::unique_ptr<SyncState>> open(const std::string& dir);
  ~SyncState();
  SyncState(const SyncState&) = delete;
  SyncState& operator=(const SyncState&) = delete;

  const std::string& dir() const { return dir_; }
  std::string tree_state_file() const { return dir_ + "/tree.state"; }

  Result<std::vector<std::string>> known_targets();
  Result<std::vector<std::string>> pending(const std::string& target);
  // One transaction: `paths` become pending for every target in `targets` (and the targets
  // known).
  Result<void> add_pending(const std::vector<std::string>& targets, const std::vector<std::string>& paths);
  // One transaction: `paths` are confirmed for `target`.
  Result<void> confirm(const std::string& target, const std::vector<std::string>& paths);

 private:
  SyncState(std::string dir, std::string file) : dir_(std::move(dir)), file_(std::move(file)) {}
  Result<void> setup();
  Error error(const char* what) const;
  Result<void> exec(const char* sql);

  std::string dir_, file_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
};

}  // namespace lookout::store
