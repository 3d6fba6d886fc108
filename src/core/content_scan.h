// hash_contents(): the --checksum step between a scan and the diff. It gives every regular
// file of a freshly scanned model a content hash, so reconcile() can report a write that
// left size and mtime as they were (`touch -r`, tools that restore mtimes). A file whose
// (inode, birth, size, mtime, ctime) equal its counterpart in the live model, with a valid
// hash there, takes that hash without being read: a content change always moves ctime, so
// a quiet tree costs no reads after the first pass. Runs on the loop thread.
#pragma once

#include <functional>

#include "core/tree_model.h"
#include "lookout/result.h"
#include "sys/content_hasher.h"
#include "sys/fs.h"

namespace lookout::core {

struct HashCost {
  std::size_t files_read = 0;
  std::size_t hashes_reused = 0;
};

// Hashes the regular files under `fresh_dir` in `fresh`. `live` (may be null: the initial
// crawl, which hashes its own model) and `live_dir` give the counterparts by name.
// `unreadable` is called for each file that could not be read (not for vanished ones).
// Every directory opened and file read goes through `fs`.
HashCost hash_contents(const TreeModel* live, NodeId live_dir, TreeModel& fresh, NodeId fresh_dir,
                       sys::ContentHasher& hasher, sys::Fs& fs,
                       const std::function<void(const Error&)>& unreadable);

}  // namespace lookout::core
