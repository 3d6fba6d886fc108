// WatchPlan: how `run` watches the PATHs it was given. A directory is a root; a file (or, with
// allow_missing, a name not there yet) is watched through its directory, by name, so that an
// atomic save, which replaces the inode, or a delete and re-create keeps working forever.
// Pure apart from the lstat of each PATH; made once at start.
#pragma once

#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::run {

struct WatchPlan {
  std::vector<std::string> roots;  // directories for WatchOptions::paths, absolute, no repeats
  // What the subscription keeps (SubscribeOptions::under): the directories and the files'
  // own paths, plus "<dir>/..data" for a file in a Kubernetes volume (see kube_volume.h).
  std::vector<std::string> under;
  std::vector<std::string> files;  // the files (and missing names) watched by name
  bool has_dirs = false;
};

// Fails with the first PATH that does not exist (unless allow_missing and its directory
// does) or cannot be examined; the error names it.
Result<WatchPlan> plan_watch(const std::vector<std::string>& paths, bool allow_missing);

}  // namespace lookout::run
