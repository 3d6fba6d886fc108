// count_dirs: how many directories a tree holds, i.e. how many inotify watches a recursive
// watch of it needs. A single-threaded getdents walk that never follows symlinks and stops
// at a limit. Owns nothing between calls; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lookout {

inline constexpr std::uint64_t kDirCountLimit = 1'000'000;

struct DirCount {
  std::uint64_t dirs = 0;        // including the root; at most the limit
  bool truncated = false;        // more directories exist than were counted
  std::uint64_t unreadable = 0;  // directories that could not be opened or listed
  // per_region[0]: directories outside every region root; per_region[i + 1]: directories
  // at or below region_roots[i] (and not below a deeper region root).
  std::vector<std::uint64_t> per_region;
};

// Walks `root` (followed if it is a symlink; nothing below it is). `region_roots` are
// absolute paths spelled as the walk reaches them (root + "/" + names), typically submount
// points, so the caller can tell how many directories each mount contributes. Directories
// in `prune` (spelled the same way) are counted but not entered, e.g. /proc.
DirCount count_dirs(const std::string& root, std::uint64_t limit = kDirCountLimit,
                    const std::vector<std::string>& region_roots = {},
                    const std::vector<std::string>& prune = {});

}  // namespace lookout
