#include "core/dir_count.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "sys/dir_reader.h"
#include "sys/unique_fd.h"

namespace lookout {

DirCount count_dirs(const std::string& root, std::uint64_t limit,
                    const std::vector<std::string>& region_roots,
                    const std::vector<std::string>& prune) {
  DirCount out;
  out.per_region.assign(region_roots.size() + 1, 0);
  std::unordered_map<std::string, std::size_t> regions;
  for (std::size_t i = 0; i < region_roots.size(); ++i) regions.emplace(region_roots[i], i + 1);
  auto region_of = [&](const std::string& path, std::size_t inherited) {
    if (regions.empty()) return inherited;
    auto it = regions.find(path);
    return it == regions.end() ? inherited : it->second;
  };

  const std::unordered_set<std::string> pruned(prune.begin(), prune.end());
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  // Depth-first with an explicit stack of paths: no recursion and at most one open fd.
  std::vector<std::pair<std::string, std::size_t>> stack;
  stack.emplace_back(base, region_of(base, 0));
  out.dirs = 1;
  ++out.per_region[stack.back().second];
  sys::DirReader reader;
  std::vector<sys::DirEntry> entries;
  bool first = true;
  while (!stack.empty()) {
    auto [path, region] = std::move(stack.back());
    stack.pop_back();
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (first ? 0 : O_NOFOLLOW);
    first = false;
    sys::UniqueFd fd(::open(path.c_str(), flags));
    if (!fd.valid() || reader.read(fd.get(), entries) != 0) {
      ++out.unreadable;
      continue;
    }
    const std::string prefix = path == "/" ? path : path + "/";
    for (const auto& e : entries) {
      sys::FileType type = e.type;
      if (type == sys::FileType::unknown) {
        // Filesystems that leave d_type empty: ask without following the link.
        std::string name(e.name);
        struct stat st;
        if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          type = sys::file_type_from_mode(st.st_mode);
        }
      }
      if (type != sys::FileType::dir) continue;
      if (out.dirs >= limit) {
        out.truncated = true;
        return out;
      }
      ++out.dirs;
      std::string child = prefix;
      child.append(e.name);
      std::size_t r = region_of(child, region);
      ++out.per_region[r];
      if (!pruned.empty() && pruned.count(child) > 0) continue;
      stack.emplace_back(std::move(child), r);
    }
  }
  return out;
}

}  // namespace lookout
