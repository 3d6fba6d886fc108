// DirFdCache: O_PATH descriptors of the directories whose entries the loop statted most
// recently, so an entry is statted relative to its directory (statx(dirfd, name): one
// component walked, no path string built) instead of by its full path (every component
// walked again, which was 38 % of a 100 000-create burst's CPU). Owned by the engine;
// loop thread only.
//
// Bounded (kCapacity, the least recently used goes) and emptied by the engine at the end
// of every loop step: an O_PATH fd pins its mount (umount says EBUSY:
// docs/kernel-facts.md#o-path-opens), so none is held while the tree is quiet. A directory
// gets an fd at its second use within a step, so a lone event costs no open. Header-only
// for now: small, and the library's source list is being changed elsewhere.
#pragma once

#include <fcntl.h>

#include <array>
#include <cstdint>

#include "core/tree_model.h"
#include "sys/fs.h"

namespace lookout::core {

class DirFdCache {
 public:
  static constexpr std::size_t kCapacity = 32;

  explicit DirFdCache(sys::Fs& fs) : fs_(fs) {}
  ~DirFdCache() { clear(); }
  DirFdCache(const DirFdCache&) = delete;
  DirFdCache& operator=(const DirFdCache&) = delete;

  // Off: fd_for() always says -1 (the kernel reports O_PATH opens: see
  // sys::Fs::path_opens_silent).
  void set_enabled(bool on) {
    enabled_ = on;
    if (!on) clear();
  }

  // An fd of the directory `dir` to stat its entries through, or -1: stat by path then.
  // The fd is the inode the model holds for `dir` (dev, ino and birth compared when opened
  // and at every use), opened at the model's path for it. Any move in the model empties the
  // cache first, so a fd never outlives the path it was opened at in the model (the fake
  // filesystem of the tests resolves fds by path, as the model does). Valid until the next
  // call of any member.
  int fd_for(const TreeModel& model, NodeId dir) {
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
    if (e && !same_object(*e, st)) {
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

  // The node `dir` is being removed (ids are reused): its entry goes.
  void forget(NodeId dir) {
    if (Entry* e = find(dir)) drop(*e);
  }
  // Closes every fd (the end of a loop step, a rescan).
  void clear() {
    for (Entry& e : entries_) drop(e);
  }
  // Fds held now (tests: bounded, and none between steps).
  std::size_t open_fds() const {
    std::size_t n = 0;
    for (const Entry& e : entries_) n += e.fd >= 0;
    return n;
  }

 private:
  static constexpr int kEmpty = -1, kNotOpened = -2, kFailed = -3;
  struct Entry {
    NodeId dir = kNoNode;
    sys::FileStat st;  // the model's stat of `dir` when noted
    int fd = kEmpty;
    std::uint64_t used = 0;
  };

  static bool same_object(const Entry& e, const sys::FileStat& st) {
    if (e.st.dev != st.dev || e.st.ino != st.ino) return false;
    return !sys::births_comparable(e.st, st) || e.st.birth == st.birth;
  }
  Entry* find(NodeId dir) {
    for (Entry& e : entries_) {
      if (e.fd != kEmpty && e.dir == dir) return &e;
    }
    return nullptr;
  }
  Entry& victim() {
    Entry* v = &entries_[0];
    for (Entry& e : entries_) {
      if (e.fd == kEmpty) return e;
      if (e.used < v->used) v = &e;
    }
    return *v;
  }
  void drop(Entry& e) {
    if (e.fd >= 0) fs_.close(e.fd);
    e.fd = kEmpty;
    e.dir = kNoNode;
  }
  // Opened at the model's path, kept only if it is the object the model holds there: the
  // model may be stale (a rename still queued), and then the path leads elsewhere.
  int open_checked(const std::string& path, const sys::FileStat& want) {
    int fd = fs_.open_dir(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    sys::FileStat got;
    Entry probe{kNoNode, want, fd, 0};
    if (fs_.fstat(fd, got) != 0 || !same_object(probe, got)) {
      fs_.close(fd);
      return -1;
    }
    return fd;
  }

  sys::Fs& fs_;
  bool enabled_ = true;
  std::array<Entry, kCapacity> entries_{};
  std::uint64_t clock_ = 0;   // use stamps, for least recently used
  std::uint64_t moves_ = 0;   // model.moves() when the entries were checked
};

}  // namespace lookout::core
