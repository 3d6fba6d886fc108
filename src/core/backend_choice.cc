// Which mechanism watches which part of the tree: inotify by default, a fanotify filesystem
// mark for large trees where allowed (or when asked), polling where the kernel cannot see
// changes. Every decision is reported as a `backend` event and a verbose diagnostic.
#include <fcntl.h>
#include <malloc.h>
#include <sys/fanotify.h>

#include <climits>
#include <cstdlib>

#include "core/fs_kind.h"
#include "sys/mountinfo.h"
#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

void Watcher::Impl::announce(NodeId dir, const char* backend, const std::string& why, Cause cause) {
  announce_path(model.path(dir), model.root_of(dir), backend, why, cause);
}

void Watcher::Impl::announce_path(const std::string& path, NodeId root, const char* backend,
                                  const std::string& why, Cause cause) {
  emit_path(EventKind::backend, path, {}, true, root, (std::string(backend) + ": " + why).c_str());
  if (opt.on_diagnostic) {
    opt.on_diagnostic(
        Error{ErrorCode::ok, 0, path, std::string(backend) + " for " + path + ": " + why, cause}, false);
  }
}

std::optional<Watcher::Impl::PollingReason> Watcher::Impl::polling_reason(const std::string& mount_path) const {
  auto kind = classify_path(mount_path, *fs);
  if (!kind) return std::nullopt;
  // inotify and fanotify see nothing of changes made on a server or behind a FUSE daemon,
  // nor of a pseudo filesystem's generated content: the same answer as `lookout doctor`.
  if (kind->backend == BackendKind::poll) return PollingReason{kind->reason};
  if (kind->is_overlay && opt.poll_overlay) {
    return PollingReason{"overlay, polled as asked: writes made directly to its layers raise no "
                         "event on the merged tree",
                         Cause::overlay_poll_asked};
  }
  return std::nullopt;
}

Result<std::unique_ptr<backend::Fanotify>> Watcher::Impl::open_fanotify() const {
  if (fanotify_opener) return fanotify_opener(fanotify_mask());
  auto backend = backend::FanotifyBackend::open(fanotify_mask());
  if (!backend) return backend.error();
  return std::unique_ptr<backend::Fanotify>(std::make_unique<backend::FanotifyBackend>(std::move(*backend)));
}

std::uint64_t Watcher::Impl::fanotify_mask() const {
  // Structure events always (the model must stay true); the rest only when reported.
  std::uint64_t m = FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR;
  if (opt.events & event_bit(EventKind::modify)) m |= FAN_MODIFY;
  if (opt.events & event_bit(EventKind::close_write)) m |= FAN_CLOSE_WRITE;
  if (opt.events & event_bit(EventKind::attrib)) m |= FAN_ATTRIB;
  if (opt.events & event_bit(EventKind::open)) m |= FAN_OPEN;
  if (opt.events & event_bit(EventKind::access)) m |= FAN_ACCESS;
  if (opt.events & event_bit(EventKind::close_nowrite)) m |= FAN_CLOSE_NOWRITE;
  return m;
}

Result<void> Watcher::Impl::mark_root(NodeId root) {
  std::string path = model.path(root);
  // A file root: its directory's filesystem is the one to mark.
  std::string dir = model.node(root).is_dir() ? path : path.substr(0, std::max<std::size_t>(1, path.rfind('/')));
  if (auto r = fan->mark(dir); !r) return r.error();
  if (model.node(root).is_dir()) fan_mount_points.insert(root);
  announce(root, "fanotify", "asked for", Cause::fanotify_asked);
  return {};
}

bool Watcher::Impl::switch_to_fanotify(NodeId root) {
  std::string path = model.path(root);
  auto why_not = [&](const std::string& reason) {
    if (opt.on_diagnostic) {
      opt.on_diagnostic(Error{ErrorCode::ok, 0, path,
                              "inotify for " + path + ": more than " +
                                  std::to_string(kFanotifyMinDirs) +
                                  " directories, but fanotify is not usable: " + reason},
                        false);
    }
    return false;
  };
  auto backend = open_fanotify();
  if (!backend) return why_not(backend.error().message);
  if (auto r = (*backend)->mark(path); !r) return why_not(r.error().message);
  fan = std::move(*backend);
  fan_mount_points.insert(root);
  crawl_tail = true;  // the rest of the crawl runs after ready
  // The mark sees everything from now on. What the watches saw before it (changes to the
  // directories listed so far) is only in their queue: applied before the watches go, so
  // those directories are in step with the consumer's view at ready. Then each gets its key.
  raw.clear();
  if (inotify->drain(raw, SIZE_MAX)) handle(raw);
  std::unordered_set<NodeId> unlisted;
  if (crawl) unlisted.insert(crawl->pending().begin(), crawl->pending().end());
  inotify.reset();
  watches.clear();  // every node's wd went with the instance
  wd_heirs.clear();
  blind.clear();
  for (NodeId id : model.subtree_post_order(root)) {
    const core::Node& n = model.node(id);
    if (n.is_dir() && !under_polled(id)) {
      sys::FsFd fd(*fs, fs->open_dir(model.path(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid()) continue;  // gone: its parent's listing or event says so
      if (std::string key = fan->key_of(fd.get(), n.st.dev); !key.empty()) fan_map(id, key, true);
      if (!unlisted.count(id)) fan_in_step.insert(id);
    }
  }
  announce(root, "fanotify",
           "more than " + std::to_string(kFanotifyMinDirs) +
               " directories: one filesystem mark instead of a watch each");
  return true;
}

bool Watcher::Impl::mark_submounts(NodeId root) {
  auto mounts = fs->mounts();
  if (!mounts) return false;
  std::string real;
  if (fs->real_path(model.path(root).c_str(), real) != 0) return false;
  for (const sys::MountEntry* m : sys::find_submounts(*mounts, real)) {
    if (m->mount_point == real) continue;
    if (excluded(m->mount_point)) continue;
    if (polling_reason(m->mount_point) || !fan->mark(m->mount_point)) return false;
    announce_path(m->mount_point, root, "fanotify",
                  "a mount of its own (" + m->fstype + "): one more filesystem mark");
  }
  return true;
}

void Watcher::Impl::enter_submount(NodeId dir, const std::string& path) {
  if (auto why = polling_reason(path)) {
    start_polling(dir, nullptr);
    announce(dir, "poll", why->why, why->cause);
    return;
  }
  if (auto r = fan->mark(path); !r) {
    start_polling(dir, nullptr);
    announce(dir, "poll", "a mount without fanotify support: " + r.error().message);
    return;
  }
  announce(dir, "fanotify", "a mount of its own: one more filesystem mark");
}

void Watcher::Impl::check_mount_points() {
  fs->rearm_mount_notice(mountinfo_fd->get());
  std::vector<NodeId> points(fan_mount_points.begin(), fan_mount_points.end());
  for (NodeId id : points) {
    if (!model.valid(id)) {
      fan_mount_points.erase(id);
      continue;
    }
    sys::FileStat st;
    std::string path = model.path(id);
    // A mount point gone from its path was moved or deleted: its own records say so.
    if (fs->stat_follow(path.c_str(), st) != 0 || st.dev == model.node(id).st.dev) continue;
    // Unmounted (or covered by another mount): what is there now differs wholesale.
    fan_mount_points.erase(id);
    emit(EventKind::unmount, id);
    if (model.is_root(id)) {
      root_gone(id, "unmounted");
    } else {
      schedule_rescan("unmount");
    }
  }
}

void Watcher::Impl::release_crawl_memory() {
  // A crawl leaves the heap full of freed buffers (the model's vectors grew by doubling, the
  // listings and paths came and went); hand the free pages back so RSS is what the model
  // holds, not what building it once took.
  ::malloc_trim(0);
}

void Watcher::Impl::continue_crawl(std::size_t max_dirs) {
  if (!crawl) return;
  if (crawl->run(max_dirs)) {
    crawl.reset();
    defer_file_stats = false;
    release_crawl_memory();
  }
}

}  // namespace lookout
