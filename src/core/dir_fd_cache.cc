#include "core/dir_fd_cache.h"

#include <fcntl.h>

namespace lookout::core {

int DirFdCache::fd_for(const TreeModel& model, NodeId dir) {
  if (!enabled_ || dir == kTopNode || !model.valid(dir)) return -1;
  const Node& n = model.node(dir);
  if (!n.is_dir() || !model.stat_known(dir)) return -1;
  const sys::FileStat st = model.stat(dir);
  if (model.moves() != moves_) {
    clear();
    moves_ = model.moves();
  }
  ++clock_;
  Entry* e = find(dir);
  if (e && !same_object(e->st, st)) {
    drop(*e);  // the node was restatted onto another object: look again
    e = nullptr;
  }
  if (!e) {
    // First use in this step: noted, not opened (a lone event would pay open + close).
    Entry& slot = victim();
    drop(slot);
    slot = Entry{dir, st, kNotOpened, clock_};
    return -1;
  }
  e->used = clock_;
  if (e->fd == kNotOpened) {
    e->fd = open_checked(model.path(dir), st);
    if (e->fd < 0) e->fd = kFailed;
  }
  return e->fd >= 0 ? e->fd : -1;
}

void DirFdCache::forget(NodeId dir) {
  if (Entry* e = find(dir)) drop(*e);
}

void DirFdCache::clear() {
  for (Entry& e : entries_) drop(e);
}

std::size_t DirFdCache::open_fds() const {
  std::size_t n = 0;
  for (const Entry& e : entries_) n += e.fd >= 0;
  return n;
}

bool DirFdCache::same_object(const sys::FileStat& a, const sys::FileStat& b) {
  if (a.dev != b.dev || a.ino != b.ino) return false;
  return !sys::births_comparable(a, b) || a.birth == b.birth;
}

DirFdCache::Entry* DirFdCache::find(NodeId dir) {
  for (Entry& e : entries_) {
    if (e.fd != kEmpty && e.dir == dir) return &e;
  }
  return nullptr;
}

DirFdCache::Entry& DirFdCache::victim() {
  Entry* v = &entries_[0];
  for (Entry& e : entries_) {
    if (e.fd == kEmpty) return e;
    if (e.used < v->used) v = &e;
  }
  return *v;
}

void DirFdCache::drop(Entry& e) {
  if (e.fd >= 0) fs_.close(e.fd);
  e.fd = kEmpty;
  e.dir = kNoNode;
}

int DirFdCache::open_checked(const std::string& path, const sys::FileStat& want) {
  int fd = fs_.open_dir(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  sys::FileStat got;
  if (fs_.fstat(fd, got) != 0 || !same_object(want, got)) {
    fs_.close(fd);
    return -1;
  }
  return fd;
}

}  // namespace lookout::core
