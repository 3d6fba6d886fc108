// Which mechanism watches which part of the tree: inotify by default, a fanotify filesystem
// mark for large trees where allowed (or when asked), polling where the kernel cannot see
// changes. Every decision is reported as a `backend` event and a verbose diagnostic.
#include <malloc.h>

#include <climits>
#include <cstdlib>

#include "core/fs_kind.h"
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

bool Watcher::Impl::polling_instead(NodeId dir, const std::string& path) {
  auto why = polling_reason(path);
  if (!why) return false;
  start_polling(dir, nullptr);
  announce(dir, "poll", why->why, why->cause);
  return true;
}

void Watcher::Impl::poll_instead(NodeId dir, const std::string& why) {
  start_polling(dir, nullptr);
  announce(dir, "poll", why);
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
  auto backend = fanotify->open_group();
  if (!backend) return why_not(backend.error().message);
  if (auto r = (*backend)->mark(path); !r) return why_not(r.error().message);
  fanotify->adopt(std::move(*backend), root);
  // fanotify keys each directory from its listing's fd: the rest of the crawl lists here.
  if (crawl) crawl->set_threads(0);
  // The mark sees everything from now on. What the watches saw before it (changes to the
  // directories listed so far) is only in their queue: applied before the watches go, so
  // those directories are in step with the consumer's view at ready. Then each gets its key.
  inotify->drain_all();
  std::unordered_set<NodeId> unlisted;
  if (crawl) unlisted.insert(crawl->pending().begin(), crawl->pending().end());
  inotify->close();
  blind.clear();
  fanotify->expect_unpaired_moves(inotify->take_unpaired_moves());  // before keys: see there
  fanotify->key_existing(root, unlisted);
  announce(root, "fanotify",
           "more than " + std::to_string(kFanotifyMinDirs) +
               " directories: one filesystem mark instead of a watch each");
  return true;
}

void Watcher::Impl::release_crawl_memory() {
  // The tables the crawl grew step by step, sized to what they hold (each touches every
  // slot: up to twice what its entries need while growing).
  model.shrink_index();
  if (inotify) inotify->shrink_tables();
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
