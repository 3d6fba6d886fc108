// poll_scan(): the polling backend's pass. Builds a fresh model of one root for the diff
// engine, re-reading only what may have changed: a directory whose mtime and ctime equal the
// model's has the same entries (creating, deleting or renaming inside it updates both), so its
// children are copied from the live model instead of being listed and stat'ed. In-place writes
// to files do not touch their directory, so a pruned pass cannot see them: a full pass (every
// entry stat'ed) runs periodically and on request, and catches them.
// Pure function of the filesystem and the live model; runs on the loop thread.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "core/tree_model.h"
#include "lookout/result.h"

namespace lookout::core {

struct PollCost {
  std::size_t dirs_listed = 0;   // directories read with getdents
  std::size_t stats = 0;         // stat calls
  std::size_t entries = 0;       // entries in the fresh model
};

// Scans `root_path` into `fresh` (which must be empty). `live_root` is the same root in the
// live model, or kNoNode for a first scan. Returns false if the root itself is gone.
bool poll_scan(const TreeModel& live, NodeId live_root, TreeModel& fresh,
               const std::string& root_path, bool full,
               const std::function<bool(const std::string&, bool)>& excluded,
               const std::function<void(const Error&)>& on_error, PollCost& cost);

}  // namespace lookout::core
