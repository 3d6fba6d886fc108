// reconcile(): the one diff engine. It compares a directory of the live model with the same
// directory freshly scanned, reports every difference as ordinary events and updates the live
// model so it equals the scan. Overflow recovery, polling and "changes since last run" all
// end here. A consumer that applies the events in order to its copy of the old tree ends with
// the scanned tree: renames are detected by identity (dev, inode and the birth stamp, so a
// reused inode number is not mistaken for a rename; size+mtime stand in for a missing birth
// stamp) and fall back to delete+create whenever applying them in order could be ambiguous.
// Runs on the loop thread; touches no filesystem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/tree_model.h"
#include "lookout/event.h"

namespace lookout::core {

struct DiffStats {
  std::size_t created = 0, removed = 0, renamed = 0, modified = 0;
  std::size_t total() const { return created + removed + renamed + modified; }
};

struct DiffSink {
  // An event whose path is `path` (and `from` for renames), computed on the live model at
  // the moment of the change, so applying them in order is consistent.
  std::function<void(EventKind kind, const std::string& path, const std::string& from, bool is_dir)> event;
  // A directory that entered the live model (created or moved in): it needs a watch and a
  // catch-up scan, since the fresh scan is already stale for it.
  std::function<void(NodeId id)> dir_added;
  // New directories enter the live model empty, their entries left to the caller's own
  // listing of them (dir_added). A watcher must list a new directory only after it watches
  // it: entries imported from a scan made before the watch existed could vanish unseen
  // before it does (a file deleted in that window would stay in the model for good).
  bool shallow_new_dirs = false;
  // Live entries without a stat (files listed before ready, or known from an event whose stat
  // failed) were last seen at or after this time: a scanned ctime or mtime from then on means
  // the entry may have changed unseen, and is reported as modified. Only ever errs towards
  // an extra modify, never a missed one. INT64_MAX: adopt such entries silently.
  std::int64_t unstat_since_ns = INT64_MAX;
};

DiffStats reconcile(TreeModel& live, NodeId live_dir, const TreeModel& fresh, NodeId fresh_dir,
                    const DiffSink& sink);

}  // namespace lookout::core
