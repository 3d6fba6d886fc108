// The persisted tree model behind "what changed while I was not running": save_state()
// writes the model of every root (versioned, written to a temp file, fsync'ed and renamed
// over the old one, so a crash leaves the old state or the new one, never half of either);
// load_state() reads it back, refusing a file of another version, another root set or one
// that is truncated or corrupt. The diff engine then compares it with a fresh crawl.
// Pure file I/O; call from the loop thread.
#pragma once

#include <string>

#include "core/tree_model.h"
#include "lookout/result.h"

namespace lookout::core {

// What is at a state file's path before lookout first writes it.
enum class StateTarget {
  missing,  // nothing: it will be created
  empty,    // an empty regular file (mktemp's): nothing to lose
  state,    // a lookout state file (any version)
  foreign,  // a regular file that is not a lookout state file: replacing it loses data
};
// Looks at `file` without changing it. Fails (naming the path and the fix) when lookout must
// never write there: not a regular file (directory, device, fifo, symlink), unreadable, or its
// directory missing or not writable.
Result<StateTarget> check_state_target(const std::string& file);

// Writes only regular files: a temp file in the same directory, fsync'ed, renamed over `file`.
// Refuses to replace a `file` that is not a regular file, or a non-empty one that is not a
// lookout state file.
Result<void> save_state(const TreeModel& model, const std::string& file);
// Reads `file` into `out` (which must be empty). Fails with a message saying why the state
// cannot be used (missing, corrupt, other version, other roots).
Result<void> load_state(TreeModel& out, const std::string& file,
                        const std::vector<std::string>& expected_roots);

}  // namespace lookout::core
