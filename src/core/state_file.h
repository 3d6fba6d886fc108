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

Result<void> save_state(const TreeModel& model, const std::string& file);
// Reads `file` into `out` (which must be empty). Fails with a message saying why the state
// cannot be used (missing, corrupt, other version, other roots).
Result<void> load_state(TreeModel& out, const std::string& file,
                        const std::vector<std::string>& expected_roots);

}  // namespace lookout::core
