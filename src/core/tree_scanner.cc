#include "core/tree_scanner.h"

#include <fcntl.h>

#include <cerrno>


namespace lookout::core {

namespace {
// Paths are opened whole (events are reported by path): below PATH_MAX only.
constexpr const char* kTooLongHint =
    "longer than PATH_MAX (4096 bytes): nothing below it is watched; watch a directory "
    "further down as a root of its own";
}  // namespace

bool TreeScanner::is_loop(NodeId dir) const {
  const sys::FileStat st = model_.stat(dir);
  if (st.ino == 0) return false;  // not stat'ed yet: nothing to compare
  for (NodeId cur = model_.node(dir).parent; cur != kTopNode && cur != kNoNode;
       cur = model_.node(cur).parent) {
    const sys::FileStat a = model_.stat(cur);
    if (a.ino == st.ino && a.dev == st.dev) return true;
  }
  return false;
}

bool TreeScanner::run(std::size_t max_dirs) {
  auto& stack = stack_;
  for (std::size_t listed = 0; !stack.empty() && listed < max_dirs; ++listed) {
    NodeId dir = stack.back();
    stack.pop_back();
    if (!model_.valid(dir)) continue;
    std::string dir_path = model_.path(dir);
    if (is_loop(dir)) {
      if (hooks_.error) {
        hooks_.error(Error{ErrorCode::io, ELOOP, dir_path,
                           dir_path + ": directory contains itself (bind mount loop); not descending"});
      }
      continue;
    }
    if (hooks_.enter_dir && !hooks_.enter_dir(dir, dir_path)) continue;
    // Roots may be symlinks the user named; below them nothing is followed.
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (model_.is_root(dir) ? 0 : O_NOFOLLOW);
    const int opened = fs_.open_dir(dir_path.c_str(), flags);
    sys::FsFd fd(fs_, opened);
    auto out_of = [](int err) { return err == EMFILE || err == ENFILE || err == ENOMEM; };
    if (!fd.valid()) {
      int err = -opened;
      if (err != ENOENT && err != ENOTDIR && hooks_.unreadable) hooks_.unreadable(dir, err);
      if (out_of(err) && hooks_.starved) {
        hooks_.starved(dir, err);
        continue;
      }
      // A directory that vanished in the meantime is not an error: its delete or rename
      // event follows.
      if ((err == ENOENT || err == ENOTDIR) && hooks_.unlisted) hooks_.unlisted(dir);
      if (err != ENOENT && err != ENOTDIR && hooks_.error) {
        hooks_.error(error_from_errno(err, "cannot list", dir_path,
                                      err == EACCES         ? "not watched; fix its permissions"
                                      : err == ENAMETOOLONG ? kTooLongHint
                                                            : ""));
      }
      continue;
    }
    if (int err = fs_.read_dir(fd.get(), reader_, entries_); err != 0) {
      if (hooks_.unreadable) hooks_.unreadable(dir, err);
      if (out_of(err) && hooks_.starved) {
        hooks_.starved(dir, err);
        continue;
      }
      if (hooks_.error) hooks_.error(error_from_errno(err, "cannot list", dir_path));
      continue;
    }
    // A directory with no children yet (every directory of a first crawl) cannot hold any
    // of these names already: skip the lookups.
    const bool was_empty = model_.node(dir).first_child == kNoNode;
    const bool stat_files = !hooks_.stat_files || hooks_.stat_files(dir);
    const std::uint64_t dir_dev = model_.stat(dir).dev;
    for (const auto& e : entries_) {
      NodeId existing = was_empty ? kNoNode : model_.find(dir, e.name);
      if (existing != kNoNode) {
        // Already known (a kernel event got there first): only descend into directories.
        if (model_.node(existing).is_dir()) stack.push_back(existing);
        continue;
      }
      sys::FileStat st;
      std::string name(e.name);
      bool known = true;
      if (!stat_files && e.type != sys::FileType::unknown && e.type != sys::FileType::dir) {
        st.type = e.type;
        st.ino = e.ino;
        st.dev = dir_dev;  // only directories can be mount points
        known = false;
      } else if (fs_.stat_at(fd.get(), name.c_str(), st) != 0) {
        continue;  // gone already
      }
      bool is_dir = st.type == sys::FileType::dir;
      if (hooks_.excluded) {
        std::string p = dir_path;
        if (p.back() != '/') p.push_back('/');
        p += name;
        if (hooks_.excluded(p, is_dir)) continue;
      }
      NodeId id = was_empty ? model_.add_new(dir, name, st, known) : model_.add(dir, name, st, known);
      if (hooks_.added) hooks_.added(id);
      if (is_dir) stack.push_back(id);
    }
    if (hooks_.listed) hooks_.listed(dir, fd.get());
  }
  return stack.empty();
}

Result<bool> scan_fresh(TreeModel& out, const std::string& abs_path,
                        const std::function<bool(const std::string&, bool)>& excluded,
                        const std::function<void(const Error&)>& on_error,
                        std::vector<std::pair<NodeId, int>>* unreadable, bool recursive,
                        sys::Fs& fs) {
  sys::FileStat st;
  if (int err = fs.stat_follow(abs_path.c_str(), st); err != 0) {
    return error_from_errno(err, "cannot watch", abs_path);
  }
  NodeId root = out.add_root(abs_path, st);
  if (st.type == sys::FileType::dir) {
    ScanHooks hooks;
    hooks.excluded = excluded;
    hooks.error = on_error;
    if (!recursive) hooks.enter_dir = [&out](NodeId d, const std::string&) { return out.is_root(d); };
    if (unreadable) {
      hooks.unreadable = [unreadable](NodeId d, int err) { unreadable->emplace_back(d, err); };
    }
    TreeScanner(out, std::move(hooks), fs).scan(root);
  }
  return true;
}

}  // namespace lookout::core
