// DirFdCache: O_PATH descriptors of the directories whose entries the loop statted most
// recently, so an entry is statted relative to its directory (statx(dirfd, name): one
// component walked, no path string built) instead of by its full path (every component
// walked again, which was 38 % of a 100 000-create burst's CPU). Owned by the engine;
// loop thread only.
//
// Bounded (kCapacity, the least recently used goes) and emptied by the engine at the end
// of every loop step: an O_PATH fd pins its mount (umount says EBUSY:
// docs/kernel-facts.md#o-path-opens), so none is held while the tree is quiet. A directory
// gets an fd at its second use within a step, so a lone event costs no open.
#pragma once

#include <array>
#include <cstdint>
#include <string>

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
  int fd_for(const TreeModel& model, NodeId dir);

  // The node `dir` is being removed (ids are reused): its entry goes.
  void forget(NodeId dir);
  // Closes every fd (the end of a loop step, a rescan).
  void clear();
  // Fds held now (tests: bounded, and none between steps).
  std::size_t open_fds() const;

 private:
  static constexpr int kEmpty = -1, kNotOpened = -2, kFailed = -3;
  struct Entry {
    NodeId dir = kNoNode;
    sys::FileStat st;  // the model's stat of `dir` when noted
    int fd = kEmpty;
    std::uint64_t used = 0;
  };

  // The same inode: dev and ino, and birth time where both have one (inode numbers are reused).
  static bool same_object(const sys::FileStat& a, const sys::FileStat& b);
  Entry* find(NodeId dir);
  Entry& victim();  // an empty entry, else the least recently used
  void drop(Entry& e);
  // Opened at the model's path, kept only if it is the object the model holds there: the
  // model may be stale (a rename still queued), and then the path leads elsewhere.
  int open_checked(const std::string& path, const sys::FileStat& want);

  sys::Fs& fs_;
  bool enabled_ = true;
  std::array<Entry, kCapacity> entries_{};
  std::uint64_t clock_ = 0;   // use stamps, for least recently used
  std::uint64_t moves_ = 0;   // model.moves() when the entries were checked
};

}  // namespace lookout::core
