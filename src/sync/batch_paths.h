// What a batch of changes means for a mirror: the paths (relative to SOURCE) to send or to
// delete on every target, or "a full pass" when the engine lost track of the whole tree.
//   create/modify/close_write/attrib  the path
//   remove                            the path (rsync deletes it: --delete-missing-args)
//   rename                            the old path (deleted) and the new one; a directory
//                                     moved also brings everything under it, listed from the
//                                     source now (the engine reports the move, not its content),
//                                     as a Move
//   rescan of SOURCE, unmount         a full pass (a subtree's rescan reports its
//                                     differences as ordinary events that follow)
// Pure but for `list_under`, a seam for the directory walk.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lookout/event.h"

namespace lookout::sync {

// A directory renamed within SOURCE, and what it holds now (relative paths, which are the
// target's too): a target that can replay the rename needs none of `content`.
struct DirMove {
  std::string from, to;
  std::vector<std::string> content;
};

struct BatchPaths {
  std::vector<std::string> paths;  // relative, sorted, unique; never ""
  bool full = false;
  // Directories renamed within SOURCE (both paths also in `paths`); the targets that cannot
  // replay a rename get all of its `content`.
  using Move = DirMove;
  std::vector<Move> moves;
};

// Every entry under `relative_dir` (relative paths, the directory itself excluded).
using ListUnder = std::function<std::vector<std::string>(const std::string& relative_dir)>;

BatchPaths batch_paths(const std::vector<Event>& batch, const std::string& source, const ListUnder& list_under);

// The real walk: lstat-based, does not follow symlinks, skips what it cannot read.
std::vector<std::string> list_under_source(const std::string& source, const std::string& relative_dir);

}  // namespace lookout::sync
