// Which mechanism watches which part of the tree: inotify by default, a fanotify filesystem
// mark for large trees where allowed (or when asked), polling where the kernel cannot see
// changes. Every decision is reported as a `backend` event and a verbose diagnostic.
#include <fcntl.h>
#include <sys/fanotify.h>

#include "core/fs_kind.h"
#include "core/watcher_impl.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

void Watcher::Impl::announce(NodeId dir, const char* backend, const std::string& why) {
  std::string path = model.path(dir);
  emit_path(EventKind::backend, path, {}, true, model.root_of(dir),
            (std::string(backend) + ": " + why).c_str());
  if (opt.on_diagnostic) {
    opt.on_diagnostic(Error{ErrorCode::ok, 0, path, std::string(backend) + " for " + path + ": " + why},
                      false);
  }
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
  announce(root, "fanotify", "asked for with --backend fanotify");
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
  auto backend = backend::FanotifyBackend::open(fanotify_mask());
  if (!backend) return why_not(backend.error().message);
  if (auto r = backend->mark(path); !r) return why_not(r.error().message);
  fan.emplace(std::move(*backend));
  crawl_tail = true;  // the rest of the crawl runs after ready
  // The mark sees everything from now on; the watches (and whatever their queue holds from
  // before ready) go. Directories listed so far get their keys.
  inotify.reset();
  wd_to_node.clear();
  blind.clear();
  for (NodeId id : model.subtree_post_order(root)) {
    core::Node& n = model.node(id);
    n.wd = -1;
    if (n.is_dir() && !under_polled(id)) {
      sys::UniqueFd fd(::open(model.path(id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd.valid()) continue;  // gone: its parent's listing or event says so
      if (std::string key = fan->key_of(fd.get(), n.st.dev); !key.empty()) fan_map(id, key);
    }
  }
  announce(root, "fanotify",
           "more than " + std::to_string(kFanotifyMinDirs) +
               " directories: one filesystem mark instead of a watch each");
  return true;
}

void Watcher::Impl::enter_submount(NodeId dir, const std::string& path) {
  auto kind = classify_path(path);
  if (kind && (kind->is_remote || kind->is_fuse)) {
    start_polling(dir, nullptr);
    announce(dir, "poll", kind->reason);
    return;
  }
  if (auto r = fan->mark(path); !r) {
    start_polling(dir, nullptr);
    announce(dir, "poll", "a mount without fanotify support: " + r.error().message);
    return;
  }
  announce(dir, "fanotify", "a mount of its own: one more filesystem mark");
}

void Watcher::Impl::continue_crawl(std::size_t max_dirs) {
  if (!crawl) return;
  if (crawl->run(max_dirs)) {
    crawl.reset();
    defer_file_stats = false;
  }
}

}  // namespace lookout
