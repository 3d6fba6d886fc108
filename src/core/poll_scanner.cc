#include "core/poll_scanner.h"

#include <fcntl.h>

#include <vector>

#include "sys/dir_reader.h"
#include "sys/unique_fd.h"

namespace lookout::core {

bool poll_scan(const TreeModel& live, NodeId live_root, TreeModel& fresh,
               const std::string& root_path, bool full,
               const std::function<bool(const std::string&, bool)>& excluded,
               const std::function<void(const Error&)>& on_error, PollCost& cost) {
  sys::FileStat root_st;
  ++cost.stats;
  if (sys::stat_follow(root_path.c_str(), root_st) != 0) return false;
  NodeId fresh_root = fresh.add_root(root_path, root_st);
  if (root_st.type != sys::FileType::dir) return true;

  sys::DirReader reader;
  std::vector<sys::DirEntry> entries;
  // (live dir or kNoNode, fresh dir)
  std::vector<std::pair<NodeId, NodeId>> stack{{live_root, fresh_root}};
  while (!stack.empty()) {
    auto [l, f] = stack.back();
    stack.pop_back();
    const sys::FileStat& fst = fresh.node(f).st;
    bool unchanged = !full && l != kNoNode && live.node(l).stat_known &&
                     live.node(l).st.ino == fst.ino && live.node(l).st.birth == fst.birth &&
                     live.node(l).st.mtime_ns == fst.mtime_ns &&
                     live.node(l).st.ctime_ns == fst.ctime_ns;
    if (unchanged) {
      live.for_each_child(l, [&](NodeId lc) {
        const Node& n = live.node(lc);
        NodeId fc = fresh.add(f, n.name, n.st, n.stat_known);
        ++cost.entries;
        if (n.is_dir()) {
          // A subdirectory's own entries may have changed: its stamp decides, so stat it.
          std::string p = fresh.path(fc);
          sys::FileStat st;
          ++cost.stats;
          if (sys::stat_at(AT_FDCWD, p.c_str(), st) == 0 && st.type == sys::FileType::dir) {
            fresh.node(fc).st = st;
            fresh.node(fc).stat_known = true;
            stack.emplace_back(lc, fc);
          } else {
            stack.emplace_back(kNoNode, fc);  // vanished or replaced: its parent changed too
          }
        }
      });
      continue;
    }
    std::string dir_path = fresh.path(f);
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (f == fresh_root ? 0 : O_NOFOLLOW);
    sys::UniqueFd fd(::open(dir_path.c_str(), flags));
    if (!fd.valid()) {
      if (errno != ENOENT && errno != ENOTDIR && on_error) on_error(error_from_errno(errno, "cannot list", dir_path));
      continue;
    }
    ++cost.dirs_listed;
    if (int err = reader.read(fd.get(), entries); err != 0) {
      if (on_error) on_error(error_from_errno(err, "cannot list", dir_path));
      continue;
    }
    for (const auto& e : entries) {
      std::string name(e.name);
      sys::FileStat st;
      ++cost.stats;
      if (sys::stat_at(fd.get(), name.c_str(), st) != 0) continue;
      bool is_dir = st.type == sys::FileType::dir;
      if (excluded) {
        std::string p = dir_path == "/" ? "/" + name : dir_path + "/" + name;
        if (excluded(p, is_dir)) continue;
      }
      NodeId fc = fresh.add(f, name, st, true);
      ++cost.entries;
      if (is_dir) {
        NodeId lc = l == kNoNode ? kNoNode : live.find(l, name);
        if (lc != kNoNode && !live.node(lc).is_dir()) lc = kNoNode;
        stack.emplace_back(lc, fc);
      }
    }
  }
  return true;
}

}  // namespace lookout::core
