// The fanotify translator as the loop's tracker (backend/tracker.h): its group and marks,
// mount points met in the tree and the mount table's notice, reading the queue, and the
// crawl's bookkeeping (its scan hooks, when its records are known complete, the listings
// to distrust after an overflow). What the records mean: fanotify_translator.cc.
#include <fcntl.h>
#include <malloc.h>
#include <sys/fanotify.h>

#include <algorithm>

#include "core/fanotify_translator.h"
#include "sys/mountinfo.h"

namespace lookout::core {

FanotifyTranslator::FanotifyTranslator(EngineServices& engine, TreeModel& model,
                                       const WatchOptions& opt, sys::Fs& fs, Opener opener)
    : engine_(engine), model_(model), opt_(opt), fs_(fs), opener_(std::move(opener)) {}

std::uint64_t FanotifyTranslator::fanotify_mask() const {
  // Structure events always (the model must stay true); the rest only when reported.
  std::uint64_t m =
      FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR;
  if (opt_.events & event_bit(EventKind::modify)) m |= FAN_MODIFY;
  if (opt_.events & event_bit(EventKind::close_write)) m |= FAN_CLOSE_WRITE;
  if (opt_.events & event_bit(EventKind::attrib)) m |= FAN_ATTRIB;
  if (opt_.events & event_bit(EventKind::open)) m |= FAN_OPEN;
  if (opt_.events & event_bit(EventKind::access)) m |= FAN_ACCESS;
  if (opt_.events & event_bit(EventKind::close_nowrite)) m |= FAN_CLOSE_NOWRITE;
  return m;
}

Result<std::unique_ptr<backend::Fanotify>> FanotifyTranslator::open_group() const {
  if (opener_) return opener_(fanotify_mask());
  auto backend = backend::FanotifyBackend::open(fanotify_mask());
  if (!backend) return backend.error();
  return std::unique_ptr<backend::Fanotify>(
      std::make_unique<backend::FanotifyBackend>(std::move(*backend)));
}

Result<void> FanotifyTranslator::open() {
  auto group = open_group();
  if (!group) return group.error();
  group_ = std::move(*group);
  return {};
}

void FanotifyTranslator::adopt(std::unique_ptr<backend::Fanotify> group, NodeId root) {
  group_ = std::move(group);
  mount_points_.insert(root);
  crawl_tail_ = true;  // the rest of the crawl runs after ready
}

void FanotifyTranslator::key_existing(NodeId root, const std::unordered_set<NodeId>& unlisted) {
  // A half rename's node is at a name it left: whatever is there now is not it.
  std::unordered_set<NodeId> left;
  for (const UnpairedMove& m : unpaired_) left.insert(m.node);
  for (NodeId id : model_.subtree_post_order(root)) {
    const Node& n = model_.node(id);
    if (n.is_dir() && !engine_.under_polled(id) && !left.count(id)) {
      // By path, one syscall (not open, name_to_handle_at, close): a directory gone or
      // replaced since its listing gets no key or a stray one, and its parent's listing or
      // event says what happened to it.
      if (std::string key = group_->key_of(AT_FDCWD, model_.path(id), model_.stat(id).dev); !key.empty()) {
        map_key(id, key, true);
      }
      if (!unlisted.count(id)) in_step_.insert(id);
    }
  }
}

Result<void> FanotifyTranslator::mark_root(NodeId root) {
  std::string path = model_.path(root);
  // A file root: its directory's filesystem is the one to mark.
  std::string dir =
      model_.node(root).is_dir() ? path : path.substr(0, std::max<std::size_t>(1, path.rfind('/')));
  if (auto r = group_->mark(dir); !r) return r.error();
  if (model_.node(root).is_dir()) mount_points_.insert(root);
  engine_.announce(root, "fanotify", "asked for", Cause::fanotify_asked);
  return {};
}

bool FanotifyTranslator::mark_submounts(NodeId root) {
  auto mounts = fs_.mounts();
  if (!mounts) return false;
  std::string real;
  if (fs_.real_path(model_.path(root).c_str(), real) != 0) return false;
  for (const sys::MountEntry* m : sys::find_submounts(*mounts, real)) {
    if (m->mount_point == real) continue;
    if (engine_.excluded(m->mount_point)) continue;
    if (engine_.needs_polling(m->mount_point) || !group_->mark(m->mount_point)) return false;
    engine_.announce_path(m->mount_point, root, "fanotify",
                          "a mount of its own (" + m->fstype + "): one more filesystem mark");
  }
  return true;
}

void FanotifyTranslator::enter_submount(NodeId dir, const std::string& path) {
  if (engine_.polling_instead(dir, path)) return;
  if (auto r = group_->mark(path); !r) {
    engine_.poll_instead(dir, "a mount without fanotify support: " + r.error().message);
    return;
  }
  engine_.announce(dir, "fanotify", "a mount of its own: one more filesystem mark");
}

void FanotifyTranslator::check_mount_points() {
  fs_.rearm_mount_notice(mountinfo_fd_->get());
  std::vector<NodeId> points(mount_points_.begin(), mount_points_.end());
  for (NodeId id : points) {
    if (!model_.valid(id)) {
      mount_points_.erase(id);
      continue;
    }
    sys::FileStat st;
    std::string path = model_.path(id);
    // A mount point gone from its path was moved or deleted: its own records say so.
    if (fs_.stat_follow(path.c_str(), st) != 0 || st.dev == model_.stat(id).dev) continue;
    // Unmounted (or covered by another mount): what is there now differs wholesale.
    mount_points_.erase(id);
    engine_.emit(EventKind::unmount, id);
    if (model_.is_root(id)) {
      engine_.root_gone(id, "unmounted");
    } else {
      engine_.schedule_rescan("unmount");
    }
  }
}

int FanotifyTranslator::notice_fd() {
  if (!mountinfo_fd_) {
    int fd = fs_.open_mount_notice();
    if (fd < 0) return -1;
    mountinfo_fd_.emplace(fs_, fd);
    check_mount_points();  // arms the notification
  }
  return mountinfo_fd_->get();
}

Result<void> FanotifyTranslator::watch(backend::DirId d, const std::string& path) {
  // One mark covers the filesystem; only a mount boundary needs a decision (usually
  // taken already from the mount table, before ready: see mark_submounts). A directory
  // known only from a record (its stat failed: it had moved on) has no device yet: it
  // is no mount point.
  if (model_.stat_known(d) && !model_.is_root(d) && engine_.at_mount_boundary(d)) {
    mount_points_.insert(d);
    if (!group_->marked(model_.stat(d).dev)) enter_submount(d, path);
  }
  return {};
}

void FanotifyTranslator::unwatch(backend::DirId id) {
  suspects_.erase(id);
  mount_points_.erase(id);
  in_step_.erase(id);
  if (!undone_.empty() && model_.node(id).is_dir()) {
    for (auto it = undone_.begin(); it != undone_.end();) {
      it = it->first.dir == id || it->second.name.dir == id ? undone_.erase(it) : std::next(it);
    }
  }
  forget_key(id);
}

Result<std::size_t> FanotifyTranslator::drain(std::size_t max) {
  raw_.clear();
  auto got = group_->drain(raw_, max);
  if (got) handle(raw_);
  return got;
}

void FanotifyTranslator::settle_unpaired_moves() {
  std::vector<UnpairedMove> moves = std::move(unpaired_);
  unpaired_.clear();
  for (const UnpairedMove& m : moves) {
    if (!model_.valid(m.dir) || model_.find(m.dir, m.name) != m.node) continue;  // moved, or gone
    const sys::FileStat had = model_.stat(m.node);
    if (had.ino != m.ino || had.dev != m.dev) continue;  // another object has the name now
    sys::FileStat now;
    // Still there (moved back), or, with no inode known for it, something there: its own
    // records say the rest.
    if (engine_.stat_child(m.dir, m.name, now) == 0 && (m.ino == 0 || (now.ino == m.ino && now.dev == m.dev))) {
      continue;
    }
    engine_.vanished(m.dir, m.name, "moved_out");
  }
}

void FanotifyTranslator::after_read(bool caught_up) {
  // The hand-over's half renames: the records that could complete them were all read.
  if (caught_up && !unpaired_.empty()) settle_unpaired_moves();
  // The crawl finished before this read, and the read found the queue's end with no
  // overflow: every record of the crawl's time was handled, nothing is left to settle.
  if (engine_.crawling() || engine_.rescan_scheduled() || !caught_up) return;
  const bool held = !in_step_.empty() || !suspects_.empty() || !told_.empty();
  crawl_tail_ = false;
  // Swapped out, not cleared: clear() keeps the bucket arrays (in_step_ held every directory
  // of the crawl, half a megabyte of buckets at 50k), and the freed nodes go back to the
  // system (the crawl's own memory was trimmed when it ended, before these were let go).
  std::unordered_set<NodeId>().swap(suspects_);
  std::unordered_set<NodeId>().swap(in_step_);
  std::unordered_map<std::string, Spot>().swap(told_);
  if (held) ::malloc_trim(0);
}

void FanotifyTranslator::listed(NodeId d, int fd, bool report) {
  // Its entries were just reported, or are the consumer's view at ready.
  if ((report || !engine_.has_started()) && model_partial()) in_step_.insert(d);
  const std::uint64_t dev = model_.stat(d).dev;
  if (std::string key = group_->key_of(fd, dev); !key.empty()) {
    map_key(d, key, true);
  }
  // Its subdirectories too, listed or not: a record about one then has the path the model
  // gives it (event order), not where the directory happens to be when it is read. Not
  // below a non-recursive root: records from inside its subdirectories are not reported.
  if (opt_.recursive) model_.for_each_child(d, [&](NodeId c) {
    const Node& n = model_.node(c);
    if (!n.is_dir() || keys_.has_key(c) || model_.stat(c).dev != dev) return;
    if (std::string key = group_->key_of(fd, std::string(model_.name(c)), dev); !key.empty()) map_key(c, key, true);
  });
  // Listed after ready with entries changed since: see drop_suspects().
  sys::FileStat st;
  if (engine_.crawling() && engine_.has_started() &&
      (fs_.fstat(fd, st) != 0 || std::max(st.mtime_ns, st.ctime_ns) >= engine_.ready_ns())) {
    suspects_.insert(d);
  }
}

void FanotifyTranslator::unlisted(NodeId d) {
  if (group_ && engine_.crawling() && engine_.has_started()) {
    suspects_.insert(d);  // see drop_suspects()
  }
}

void FanotifyTranslator::drop_suspects(const std::function<void()>& before_first_report) {
  std::vector<NodeId> suspects(suspects_.begin(), suspects_.end());
  suspects_.clear();
  for (NodeId d : suspects) {
    if (!model_.valid(d) || model_.is_root(d) || !model_.node(d).is_dir()) continue;
    before_first_report();
    engine_.emit(EventKind::remove, d, {}, "");
    model_.remove(d);
  }
}

void FanotifyTranslator::forget_renames() {
  undone_.clear();  // the diff puts every object where it is
  told_.clear();
}

}  // namespace lookout::core
