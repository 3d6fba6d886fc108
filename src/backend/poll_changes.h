// find_changed_dirs(): the first half of a polling pass. It walks the directories of the live
// model under one root against the filesystem, changes nothing, and names the directories
// whose entries must be read again; on a quiet tree it names none, so the pass ends without
// building or diffing any model. The walk is split over a few threads (ParallelStack); they
// only read the live model, which the caller must not change meanwhile.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/tree_model.h"
#include "lookout/result.h"
#include "sys/file_stat.h"
#include "sys/fs.h"

namespace lookout::backend {

// The polling backend diffs against the engine's model: it works in core's types.
using core::kNoNode;
using core::Node;
using core::NodeId;
using core::TreeModel;


struct PollCost {
  std::size_t dirs_listed = 0;  // directories read with getdents
  std::size_t stats = 0;        // stat calls
  std::size_t entries = 0;      // entries in the fresh model

  PollCost& operator+=(const PollCost& o) {
    dirs_listed += o.dirs_listed;
    stats += o.stats;
    entries += o.entries;
    return *this;
  }
};

// `excluded(path, is_dir)` is called concurrently from the walking threads when set.
using ExcludedFn = std::function<bool(const std::string&, bool)>;

struct ChangedDirs {
  // Live directories whose entries differ, or may differ, from the filesystem's.
  std::vector<NodeId> dirs;
  // Failures met while walking, for the caller to report on its own thread.
  std::vector<Error> errors;
  PollCost cost;
};

// `root_st` is the root's stat taken just before the call. Pruned (full=false): a directory
// is changed when its stamps (inode, mtime, ctime) differ from the model's, since creating,
// deleting or renaming an entry updates both; one stat per directory. Full: every directory
// is listed and every entry stat'ed and compared with the model, which also catches in-place
// writes that leave the directory's stamps alone. `threads` >= 1. Not `recursive`: only
// the root's entries are compared; its subdirectories' own entries are not walked.
ChangedDirs find_changed_dirs(const TreeModel& live, NodeId root, const std::string& root_path,
                              const sys::FileStat& root_st, bool full, const ExcludedFn& excluded,
                              unsigned threads, bool recursive = true,
                              sys::Fs& fs = sys::real_fs());

// Whether the model's entry `n` still describes `st`: everything the diff engine compares.
bool same_entry(const TreeModel& model, NodeId id, const sys::FileStat& st);
// A directory's stamps are those `a` was read under: same inode and birth, same mtime and
// ctime (its entries have not changed since).
bool same_stamps(const sys::FileStat& a, const sys::FileStat& b);

}  // namespace lookout::backend
