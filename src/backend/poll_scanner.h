// poll_scan(): the polling backend's pass over one root, in two halves.
// 1. find_changed_dirs() walks the live model's directories against the filesystem (split
//    over a few threads) and names those whose entries changed: pruned, by directory stamps
//    (creating, deleting or renaming an entry updates its directory's mtime and ctime), one
//    stat per directory; full, by listing every directory and stat'ing every entry, which
//    also catches in-place writes that leave the directory's stamps alone.
// 2. If any changed, a fresh model is built of the smallest subtree holding all of them (so a
//    rename between two changed directories is still one rename to the diff engine): changed
//    directories are read again, the others copied from the live model. A quiet tree builds
//    nothing and diffs nothing.
// reconcile_poll() then diffs that subtree into the live model. Runs on the loop thread; the
// live model must not change between the two calls.
#pragma once

#include <functional>
#include <string>

#include "backend/poll_changes.h"
#include "core/tree_diff.h"
#include "core/tree_model.h"
#include "lookout/result.h"

namespace lookout::backend {

// The polling backend diffs against the engine's model: it works in core's types.
using core::DiffSink;
using core::DiffStats;


struct PollScan {
  PollCost cost;
  // The subtree to diff: a directory of the live model and its copy in the fresh model.
  // fresh_dir is kNoNode when nothing changed; live_dir is kNoNode for a first scan.
  NodeId live_dir = kNoNode;
  NodeId fresh_dir = kNoNode;
  // The root's stat taken by this pass; reconcile_poll() stores it in the live root.
  sys::FileStat root_st;
  bool changed() const { return fresh_dir != kNoNode; }
};

// Threads used when poll_scan() is given 0: one per core, at most this many. A quiet pass is
// mostly syscalls on independent directories, which scale with cores.
inline constexpr unsigned kMaxPollThreads = 4;

// Scans `root_path` for changes against `live_root` (kNoNode for a first scan, which reads
// everything into `fresh`). `fresh` must be empty. `excluded` may be called from several
// threads at once; `on_error` is called on this thread. Returns false if the root is gone.
// Not `recursive`: only the root's own entries are compared and read (a watch without -r).
bool poll_scan(const TreeModel& live, NodeId live_root, TreeModel& fresh,
               const std::string& root_path, bool full, const ExcludedFn& excluded,
               const std::function<void(const Error&)>& on_error, PollScan& out,
               unsigned threads = 0, bool recursive = true, sys::Fs& fs = sys::real_fs());

// Diffs what poll_scan() found into the live model (reconcile() on its subtree) and refreshes
// the stamps of the subtree's directory and of the root. Nothing to do when nothing changed.
DiffStats reconcile_poll(TreeModel& live, NodeId live_root, const TreeModel& fresh,
                         const PollScan& scan, const DiffSink& sink);

}  // namespace lookout::backend
