#include "backend/poll_scanner.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <unordered_set>
#include <vector>

#include "sys/dir_reader.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

using core::reconcile;

namespace {

// Below this many model entries a pass takes well under a millisecond: starting threads
// would cost more than they save.
constexpr std::size_t kParallelMinEntries = 4096;

unsigned pick_threads(unsigned requested, const TreeModel& live) {
  if (requested > 0) return requested;
  if (live.size() < kParallelMinEntries) return 1;
  return std::clamp(std::thread::hardware_concurrency(), 1u, kMaxPollThreads);
}

// The deepest directory that is `root` or below it and holds every one of `dirs`.
NodeId common_ancestor(const TreeModel& live, NodeId root, const std::vector<NodeId>& dirs) {
  NodeId cur = dirs.front();
  for (NodeId d : dirs) {
    while (cur != root && !live.is_ancestor(cur, d)) cur = live.node(cur).parent;
  }
  return cur;
}

// The second half of a pass: builds the fresh copy of one subtree, reading the changed
// directories (and every directory the model does not know) and copying the others' entries
// from the live model, which find_changed_dirs() found to be still true.
class FreshBuilder {
 public:
  FreshBuilder(const TreeModel& live, TreeModel& fresh, NodeId fresh_root,
               const std::unordered_set<NodeId>& changed, const ExcludedFn& excluded,
               const std::function<void(const Error&)>& on_error, PollCost& cost,
               bool recursive, sys::Fs& fs)
      : recursive_(recursive),
        fs_(fs),
        live_(live),
        fresh_(fresh),
        fresh_root_(fresh_root),
        changed_(changed),
        excluded_(excluded),
        on_error_(on_error),
        cost_(cost) {}

  // `polled_root`: the subtree is the whole polled root, whose stat was taken just now (before
  // its entries are read) and which, as a path the user named, may be a symlink to follow.
  void build(NodeId live_dir, bool polled_root) {
    follow_top_ = polled_root;
    stack_.push_back({live_dir, fresh_root_, polled_root});
    while (!stack_.empty()) {
      Item it = stack_.back();
      stack_.pop_back();
      if (it.live != kNoNode && !it.relist && !changed_.count(it.live)) {
        copy(it);
      } else {
        list(it);
      }
    }
  }

 private:
  struct Item {
    NodeId live;  // kNoNode: a directory the live model does not have
    NodeId fresh;
    bool stat_fresh;
    bool relist = false;  // changed since the first half of the pass looked at it
  };

  void copy(const Item& it) {
    live_.for_each_child(it.live, [&](NodeId lc) {
      const Node& n = live_.node(lc);
      NodeId fc = fresh_.add(it.fresh, live_.name(lc), live_.stat(lc), live_.stat_known(lc));
      ++cost_.entries;
      if (n.is_dir() && recursive_) stack_.push_back({lc, fc, false});
    });
  }

  // A directory that exists but cannot be read now (no permission, no fd left, no memory)
  // did not lose its entries: left empty it would read as all of them deleted. It keeps
  // the model's. After a passing shortage (EMFILE, ENFILE, ENOMEM) its stamps are marked
  // unknown, so the next pass reads it again; an unreadable one is read again when its
  // stamps move (a chmod moves ctime).
  void keep_unreadable(const Item& it, int err) {
    if (it.live == kNoNode || fresh_.node(it.fresh).first_child() != kNoNode) return;
    copy(it);
    if (err == EMFILE || err == ENFILE || err == ENOMEM) fresh_.set_stat_known(it.fresh, false);
  }

  void list(const Item& it) {
    std::string dir_path = fresh_.path(it.fresh);
    // Roots may be symlinks the user named; below them nothing is followed.
    bool follow = follow_top_ && it.fresh == fresh_root_;
    if (!it.stat_fresh) {
      // The stat copied from the live model is older than this listing: take the stamps
      // now, before reading, so a change made after this point still differs next pass.
      // Before opening, too: a directory made unreadable (chmod 000) still has its new
      // mode reported, and its stamps recorded instead of read again at every pass.
      sys::FileStat st;
      ++cost_.stats;
      if (fs_.stat_at(AT_FDCWD, dir_path.c_str(), st) == 0 && st.type == sys::FileType::dir) {
        fresh_.set_stat(it.fresh, st);
      }
    }
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
    const int opened = fs_.open_dir(dir_path.c_str(), flags);
    sys::FsFd fd(fs_, opened);
    if (!fd.valid()) {
      int err = -opened;
      if (err != ENOENT && err != ENOTDIR && on_error_) {
        on_error_(error_from_errno(err, "cannot list", dir_path));
      }
      if (err != ENOENT && err != ENOTDIR) keep_unreadable(it, err);
      return;
    }
    ++cost_.dirs_listed;
    if (int err = fs_.read_dir(fd.get(), reader_, entries_); err != 0) {
      if (on_error_) on_error_(error_from_errno(err, "cannot list", dir_path));
      keep_unreadable(it, err);
      return;
    }
    for (const auto& e : entries_) {
      std::string name(e.name);
      sys::FileStat st;
      ++cost_.stats;
      if (fs_.stat_at(fd.get(), name.c_str(), st) != 0) continue;  // gone already
      bool is_dir = st.type == sys::FileType::dir;
      if (excluded_) {
        std::string p = dir_path == "/" ? "/" + name : dir_path + "/" + name;
        if (excluded_(p, is_dir)) continue;
      }
      NodeId fc = fresh_.add(it.fresh, name, st, true);
      ++cost_.entries;
      if (!is_dir || !recursive_) continue;
      NodeId lc = it.live == kNoNode ? kNoNode : live_.find(it.live, name);
      // Only the same directory may be copied from the model: a replaced one is read whole.
      if (lc != kNoNode && (!live_.node(lc).is_dir() || live_.stat(lc).ino != st.ino ||
                            live_.stat(lc).dev != st.dev)) {
        lc = kNoNode;
      }
      // Copying the model's entries is right only under the stamps they were read with: a
      // directory changed since find_changed_dirs() looked would otherwise store its new
      // stamps over its old entries, and no later pruned pass would read it again.
      bool relist = lc != kNoNode && (!live_.stat_known(lc) || !same_stamps(live_.stat(lc), st));
      stack_.push_back({lc, fc, true, relist});
    }
  }

  bool recursive_;
  sys::Fs& fs_;
  const TreeModel& live_;
  TreeModel& fresh_;
  NodeId fresh_root_;
  bool follow_top_ = false;
  const std::unordered_set<NodeId>& changed_;
  const ExcludedFn& excluded_;
  const std::function<void(const Error&)>& on_error_;
  PollCost& cost_;
  std::vector<Item> stack_;
  sys::DirReader reader_;
  std::vector<sys::DirEntry> entries_;
};

}  // namespace

bool poll_scan(const TreeModel& live, NodeId live_root, TreeModel& fresh,
               const std::string& root_path, bool full, const ExcludedFn& excluded,
               const std::function<void(const Error&)>& on_error, PollScan& out, unsigned threads,
               bool recursive, sys::Fs& fs) {
  ++out.cost.stats;
  if (fs.stat_follow(root_path.c_str(), out.root_st) != 0) return false;
  const bool root_is_dir = out.root_st.type == sys::FileType::dir;
  std::unordered_set<NodeId> changed;
  if (live_root == kNoNode || !live.valid(live_root)) {
    // First scan: nothing to compare with, everything is read.
    out.fresh_dir = fresh.add_root(root_path, out.root_st);
    if (root_is_dir) {
      FreshBuilder(live, fresh, out.fresh_dir, changed, excluded, on_error, out.cost, recursive, fs)
          .build(kNoNode, true);
    }
    return true;
  }
  if (!root_is_dir) {
    // The root is no longer a directory: whatever the model had under it is gone.
    if (live.node(live_root).first_child() != kNoNode) {
      out.live_dir = live_root;
      out.fresh_dir = fresh.add_root(root_path, out.root_st);
    }
    return true;
  }
  ChangedDirs found = find_changed_dirs(live, live_root, root_path, out.root_st, full, excluded,
                                        pick_threads(threads, live), recursive, fs);
  out.cost += found.cost;
  if (on_error) {
    for (const auto& e : found.errors) on_error(e);
  }
  if (found.dirs.empty()) return true;
  changed.insert(found.dirs.begin(), found.dirs.end());
  NodeId scope = common_ancestor(live, live_root, found.dirs);
  bool is_root = scope == live_root;
  out.live_dir = scope;
  out.fresh_dir = fresh.add_root(is_root ? root_path : live.path(scope),
                                 is_root ? out.root_st : live.stat(scope));
  FreshBuilder(live, fresh, out.fresh_dir, changed, excluded, on_error, out.cost, recursive, fs)
      .build(scope, is_root);
  return true;
}

DiffStats reconcile_poll(TreeModel& live, NodeId live_root, const TreeModel& fresh,
                         const PollScan& scan, const DiffSink& sink) {
  DiffStats stats;
  if (scan.changed() && scan.live_dir != kNoNode && live.valid(scan.live_dir)) {
    // reconcile() compares the entries of the directory it is given, not the directory
    // itself: a subdirectory whose mode changed (its ctime brought it here) is compared now.
    const sys::FileStat ld = live.stat(scan.live_dir);
    const sys::FileStat fd = fresh.stat(scan.fresh_dir);
    if (!live.is_root(scan.live_dir) && live.stat_known(scan.live_dir) && fresh.stat_known(scan.fresh_dir) && ld.mode != fd.mode &&
        ld.ino == fd.ino && sink.event) {
      ++stats.modified;
      sink.event(EventKind::attrib, live.path(scan.live_dir), {}, true);
    }
    stats = reconcile(live, scan.live_dir, fresh, scan.fresh_dir, sink);
    // reconcile() updates the stamps of the entries it compares, not of the directory it
    // was given: without this the directory would look changed on every pass.
    if (live.valid(scan.live_dir) && fresh.stat_known(scan.fresh_dir)) {
      live.set_stat(scan.live_dir, fresh.stat(scan.fresh_dir));
    }
  }
  // Safe to store even when nothing was read again: the root's entries were compared (full)
  // or its stamps were equal (pruned) after this stat was taken.
  if (live.valid(live_root) && scan.root_st.type == sys::FileType::dir) {
    live.set_stat(live_root, scan.root_st);
  }
  return stats;
}

}  // namespace lookout::backend
