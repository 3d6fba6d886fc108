#include "core/tree_scanner.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <thread>


namespace lookout::core {

namespace {
// Between two calls of run()'s stop check: a few milliseconds of crawling.
constexpr std::size_t kStopCheckDirs = 64;
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

TreeScanner::~TreeScanner() = default;

void TreeScanner::set_threads(unsigned threads) {
  threads_ = threads;
  if (threads == 0) listers_.reset();
}

unsigned TreeScanner::listing_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp(cores > 1 ? cores - 1 : 1u, 1u, 3u);
}

bool TreeScanner::prepare(NodeId dir, std::string& dir_path) {
  if (!model_.valid(dir)) return false;
  dir_path = model_.path(dir);
  if (is_loop(dir)) {
    if (hooks_.error) {
      hooks_.error(Error{ErrorCode::io, ELOOP, dir_path,
                         dir_path + ": directory contains itself (bind mount loop); not descending"});
    }
    return false;
  }
  return !hooks_.enter_dir || hooks_.enter_dir(dir, dir_path);
}

void TreeScanner::failed(NodeId dir, const std::string& dir_path, int err, bool opening) {
  auto out_of = [](int e) { return e == EMFILE || e == ENFILE || e == ENOMEM; };
  if (!opening) {
    if (hooks_.unreadable) hooks_.unreadable(dir, err);
    if (out_of(err) && hooks_.starved) {
      hooks_.starved(dir, err);
      return;
    }
    if (hooks_.error) hooks_.error(error_from_errno(err, "cannot list", dir_path));
    return;
  }
  if (err != ENOENT && err != ENOTDIR && hooks_.unreadable) hooks_.unreadable(dir, err);
  if (out_of(err) && hooks_.starved) {
    hooks_.starved(dir, err);
    return;
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
}

void TreeScanner::add_entry(NodeId dir, const std::string& dir_path, std::string_view name,
                            const sys::FileStat& st, bool known, bool was_empty) {
  bool is_dir = st.type == sys::FileType::dir;
  if (hooks_.excluded) {
    std::string p = dir_path;
    if (p.back() != '/') p.push_back('/');
    p += name;
    if (hooks_.excluded(p, is_dir)) return;
  }
  NodeId id = was_empty ? model_.add_new(dir, name, st, known) : model_.add(dir, name, st, known);
  if (hooks_.added) hooks_.added(id);
  if (is_dir) stack_.push_back(id);
}

bool TreeScanner::run(std::size_t max_dirs, const std::function<bool()>& stop) {
  auto& stack = stack_;
  std::string dir_path;
  for (std::size_t listed = 0; !stack.empty() && listed < max_dirs; ++listed) {
    if (threads_ > 0 && listed_ >= kParallelAfterDirs) {
      return run_parallel(max_dirs - listed, stop);
    }
    if (stop && listed > 0 && listed % kStopCheckDirs == 0 && stop()) return false;
    NodeId dir = stack.back();
    stack.pop_back();
    if (!prepare(dir, dir_path)) continue;
    ++listed_;
    // Roots may be symlinks the user named; below them nothing is followed.
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (model_.is_root(dir) ? 0 : O_NOFOLLOW);
    const int opened = fs_.open_dir(dir_path.c_str(), flags);
    sys::FsFd fd(fs_, opened);
    if (!fd.valid()) {
      failed(dir, dir_path, -opened, true);
      continue;
    }
    if (int err = fs_.read_dir(fd.get(), reader_, entries_); err != 0) {
      failed(dir, dir_path, err, false);
      continue;
    }
    // A directory with no children yet (every directory of a first crawl) cannot hold any
    // of these names already: skip the lookups.
    const bool was_empty = model_.node(dir).first_child() == kNoNode;
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
      add_entry(dir, dir_path, name, st, known, was_empty);
    }
    if (hooks_.listed) hooks_.listed(dir, fd.get());
  }
  return stack.empty();
}

bool TreeScanner::run_parallel(std::size_t max_dirs, const std::function<bool()>& stop) {
  if (!listers_) listers_ = std::make_unique<DirListers>(threads_, fs_);
  // Enough in flight that neither side waits for the other when the scheduler takes one of
  // them away for a while (measured on 2 busy cores: 32 waited, 256 did not), and a bounded
  // memory (a 10-entry listing takes about 1 KB).
  const std::size_t window = 256;
  std::size_t handed = 0, applied = 0, next_stop_check = kStopCheckDirs;
  bool stopped = false;
  std::string dir_path;
  for (;;) {
    while (!stopped && handed < max_dirs && listers_->in_flight() < window && !stack_.empty()) {
      NodeId dir = stack_.back();
      stack_.pop_back();
      if (!prepare(dir, dir_path)) continue;
      std::unique_ptr<DirListing> job;
      if (spare_.empty()) {
        job = std::make_unique<DirListing>();
      } else {
        job = std::move(spare_.back());
        spare_.pop_back();
      }
      const sys::FileStat st = model_.stat(dir);
      const bool root = model_.is_root(dir);
      job->dir = dir;
      job->ino = root ? 0 : st.ino;
      job->path = std::move(dir_path);
      dir_path = {};
      // Roots may be symlinks the user named; below them nothing is followed.
      job->flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (root ? 0 : O_NOFOLLOW);
      job->stat_files = !hooks_.stat_files || hooks_.stat_files(dir);
      job->dir_dev = st.dev;
      batch_.push_back(std::move(job));
      ++handed;
      ++listed_;
      // Handed out in small batches: the listers start while the rest are watched.
      if (batch_.size() >= 8) listers_->submit(batch_);
    }
    listers_->submit(batch_);
    if (listers_->in_flight() == 0) break;
    listers_->take(finished_);
    for (auto& l : finished_) {
      apply(*l);
      // A huge directory's buffers are not kept for the next one.
      if (l->entries.capacity() <= 4096) spare_.push_back(std::move(l));
    }
    applied += finished_.size();
    finished_.clear();
    if (stop && !stopped && applied >= next_stop_check) {
      next_stop_check = applied + kStopCheckDirs;
      stopped = stop();
    }
  }
  if (spare_.size() > window) spare_.resize(window);
  return stack_.empty();
}

void TreeScanner::apply(DirListing& l) {
  // Only this thread changes the model, and between hand-out and now only this scanner did:
  // the node is still the directory queued, unless a hook removed it meanwhile.
  if (!model_.valid(l.dir) || !model_.node(l.dir).is_dir() ||
      (l.ino != 0 && model_.stat(l.dir).ino != l.ino)) {
    return;
  }
  if (l.open_err != 0) {
    failed(l.dir, l.path, l.open_err, true);
    return;
  }
  if (l.moved) {
    // As a path that no longer resolves: listed again once the events say where it went.
    if (hooks_.unlisted) hooks_.unlisted(l.dir);
    return;
  }
  if (l.read_err != 0) {
    failed(l.dir, l.path, l.read_err, false);
    return;
  }
  const bool was_empty = model_.node(l.dir).first_child() == kNoNode;
  for (const auto& e : l.entries) {
    const std::string_view name = l.name(e);
    if (!was_empty) {
      NodeId existing = model_.find(l.dir, name);
      if (existing != kNoNode) {
        if (model_.node(existing).is_dir()) stack_.push_back(existing);
        continue;
      }
    }
    add_entry(l.dir, l.path, name, e.st, e.known, was_empty);
  }
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
