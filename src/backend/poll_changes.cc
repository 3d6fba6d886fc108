#include "backend/poll_changes.h"

#include <fcntl.h>

#include <cerrno>

#include "core/parallel_stack.h"
#include "sys/dir_reader.h"
#include "sys/fs.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

using core::ParallelStack;

namespace {

struct DirItem {
  NodeId dir;
  std::string path;
};

std::string join(const std::string& dir, std::string_view name) {
  std::string p;
  p.reserve(dir.size() + 1 + name.size());
  p.append(dir);
  if (p.empty() || p.back() != '/') p.push_back('/');
  p += name;
  return p;
}

bool same_identity(const sys::FileStat& a, const sys::FileStat& b) {
  // The birth stamp tells a reused inode number apart (ext4 reuses at once).
  return a.type == b.type && a.ino == b.ino && a.dev == b.dev && a.birth == b.birth;
}

// What one walking thread collects; merged once every thread is done.
struct WorkerState {
  sys::DirReader reader;
  std::vector<sys::DirEntry> entries;
  std::string name;  // NUL-terminated copy of an entry's name, reused
  std::vector<NodeId> kids;
  std::vector<NodeId> changed;
  std::vector<Error> errors;
  PollCost cost;
};

class ChangeWalk {
 public:
  ChangeWalk(const TreeModel& live, NodeId root, const ExcludedFn& excluded, unsigned threads,
             bool recursive, sys::Fs& fs)
      : live_(live), root_(root), excluded_(excluded), workers_(threads), recursive_(recursive), fs_(fs) {}

  void run(std::vector<DirItem> seeds, bool full) {
    ParallelStack<DirItem>::run(std::move(seeds), static_cast<unsigned>(workers_.size()),
                                [&](DirItem&& item, unsigned w, std::vector<DirItem>& push) {
                                  if (full) {
                                    list_and_compare(item, workers_[w], push);
                                  } else {
                                    stat_subdirs(item, workers_[w], push);
                                  }
                                });
  }

  ChangedDirs result() {
    ChangedDirs out;
    for (auto& w : workers_) {
      out.dirs.insert(out.dirs.end(), w.changed.begin(), w.changed.end());
      for (auto& e : w.errors) out.errors.push_back(std::move(e));
      out.cost += w.cost;
    }
    return out;
  }

 private:
  // Pruned: the stamps of each subdirectory decide whether its entries are read again.
  // REQUIRES: item.dir exists on disk with the model's identity (checked by the caller).
  void stat_subdirs(const DirItem& item, WorkerState& ws, std::vector<DirItem>& push) {
    // Names are looked up relative to the directory (an O_PATH fd, opened only if it has
    // subdirectories): one path component per stat instead of the whole path's.
    int opened = -1;
    bool gone = false, entries_changed = false;
    live_.for_each_child(item.dir, [&](NodeId c) {
      const Node& n = live_.node(c);
      if (!n.is_dir() || gone) return;
      if (opened < 0) {
        int flags = O_PATH | O_DIRECTORY | O_CLOEXEC | (item.dir == root_ ? 0 : O_NOFOLLOW);
        opened = fs_.open_dir(item.path.c_str(), flags);
        if (opened < 0) {
          gone = true;
          return;
        }
      }
      sys::FileStat st;
      ++ws.cost.stats;
      core::TreeModel::CName name;
      if (fs_.stat_at(opened, live_.c_name(c, name), st) != 0 || !same_identity(live_.stat(c), st)) {
        // Gone or replaced: this directory's entries changed (its stamps say so too, unless
        // the change came after they were taken). Its relisting finds what is there now.
        entries_changed = true;
        return;
      }
      if (!recursive_) {
        // Its entries are not watched; its own metadata is compared by full passes.
        if (!live_.stat_known(c) || live_.stat(c).mode != st.mode) entries_changed = true;
        return;
      }
      if (!live_.stat_known(c) || !same_stamps(live_.stat(c), st)) ws.changed.push_back(c);
      push.push_back({c, join(item.path, live_.name(c))});
    });
    sys::FsFd dirfd(fs_, opened);  // given back here, once the subdirectories are stat'ed
    if (gone) {
      // Vanished or replaced since its stamps were taken: its parent changed.
      ws.changed.push_back(item.dir == root_ ? item.dir : live_.node(item.dir).parent);
    } else if (entries_changed) {
      ws.changed.push_back(item.dir);
    }
  }

  // Full: lists the directory and compares every entry's stat with the model.
  void list_and_compare(const DirItem& item, WorkerState& ws, std::vector<DirItem>& push) {
    // Roots may be symlinks the user named; below them nothing is followed.
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (item.dir == root_ ? 0 : O_NOFOLLOW);
    const int opened = fs_.open_dir(item.path.c_str(), flags);
    sys::FsFd fd(fs_, opened);
    if (!fd.valid()) {
      int err = -opened;
      // Vanished after its parent's listing: the parent changed. Unreadable: it changed only
      // if the model knew entries in it; the relisting reports the error then.
      if (err == ENOENT || err == ENOTDIR) {
        ws.changed.push_back(item.dir == root_ ? item.dir : live_.node(item.dir).parent);
      } else if (live_.node(item.dir).first_child() != kNoNode) {
        ws.changed.push_back(item.dir);
      } else {
        ws.errors.push_back(error_from_errno(err, "cannot list", item.path));
      }
      return;
    }
    ++ws.cost.dirs_listed;
    if (int err = fs_.read_dir(fd.get(), ws.reader, ws.entries); err != 0) {
      ws.changed.push_back(item.dir);
      return;
    }
    // The model links children newest first, so its list runs opposite to the order they
    // were read in, which an unchanged directory repeats: matching from its end spares most
    // hash lookups (cache misses all over a large model).
    ws.kids.clear();
    live_.for_each_child(item.dir, [&](NodeId c) { ws.kids.push_back(c); });
    std::size_t cursor = ws.kids.size();
    bool changed = false;
    std::size_t matched = 0;
    for (const auto& e : ws.entries) {
      sys::FileStat st;
      ++ws.cost.stats;
      // A name that is gone already: if the model has it, the count below differs.
      ws.name.assign(e.name);
      if (fs_.stat_at(fd.get(), ws.name.c_str(), st) != 0) continue;
      bool is_dir = st.type == sys::FileType::dir;
      if (excluded_ && excluded_(join(item.path, e.name), is_dir)) continue;
      NodeId c = kNoNode;
      if (cursor > 0 && live_.name(ws.kids[cursor - 1]) == e.name) {
        c = ws.kids[--cursor];
      } else {
        c = live_.find(item.dir, e.name);
      }
      if (c == kNoNode) {
        changed = true;
        continue;
      }
      ++matched;
      const Node& n = live_.node(c);
      if (!same_entry(live_, c, st)) changed = true;
      // Only the model's own directories are walked: a new or replaced one is read whole
      // when its parent is relisted.
      if (is_dir && n.is_dir() && same_identity(live_.stat(c), st) && recursive_)
        push.push_back({c, join(item.path, e.name)});
    }
    if (matched != ws.kids.size()) changed = true;
    if (changed) ws.changed.push_back(item.dir);
  }

  const TreeModel& live_;
  NodeId root_;
  const ExcludedFn& excluded_;
  std::vector<WorkerState> workers_;
  bool recursive_;
  sys::Fs& fs_;  // shared by the walking threads: must be thread-safe (the real one is)
};

}  // namespace

bool same_stamps(const sys::FileStat& a, const sys::FileStat& b) {
  return a.ino == b.ino && a.birth == b.birth && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns;
}

bool same_entry(const TreeModel& model, NodeId id, const sys::FileStat& st) {
  if (!model.stat_known(id)) return false;
  const sys::FileStat had = model.stat(id);
  if (!same_identity(had, st) || had.mode != st.mode) return false;
  // A directory's own stamps and size follow its entries, which its own check compares.
  if (had.type == sys::FileType::dir) return true;
  return had.size == st.size && had.mtime_ns == st.mtime_ns && had.ctime_ns == st.ctime_ns;
}

ChangedDirs find_changed_dirs(const TreeModel& live, NodeId root, const std::string& root_path,
                              const sys::FileStat& root_st, bool full, const ExcludedFn& excluded,
                              unsigned threads, bool recursive, sys::Fs& fs) {
  ChangeWalk walk(live, root, excluded, threads < 1 ? 1 : threads, recursive, fs);
  walk.run({{root, root_path}}, full);
  ChangedDirs out = walk.result();
  // Pruned: the root's stamps decide for it as for any directory. Full: its listing did.
  if (!full && (!live.stat_known(root) || !same_stamps(live.stat(root), root_st))) out.dirs.push_back(root);
  return out;
}

}  // namespace lookout::backend
