// FakeFs: an in-memory directory tree behind the sys::Fs seam, so the engine's scans and
// stats run without a filesystem. Absolute paths, no symlinks; one device unless a test
// says otherwise (set_dev). Directory fds are numbers of its own, never real fds.
// Single-threaded, like the loop that uses it (a polling pass walks with one thread below
// 4096 entries: keep polled fake trees smaller).
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "sys/fs.h"

namespace lookout::testing {

class FakeFs final : public sys::Fs {
 public:
  FakeFs() { put("/", sys::FileType::dir); }

  // Makes a directory (parents too, as mkdir -p) or a file (parents must exist).
  void mkdir(const std::string& path) {
    if (path != "/" && !has(parent_of(path))) mkdir(parent_of(path));
    if (!has(path)) put(path, sys::FileType::dir);
  }
  // Creates a file (its directory's stamps move) or writes one in place (they do not).
  void write(const std::string& path, std::uint64_t size = 0) {
    auto it = entries_.find(path);
    if (it == entries_.end()) {
      put(path, sys::FileType::file).size = size;
    } else {
      it->second.size = size;
      it->second.mtime_ns = it->second.ctime_ns = ++tick_;
    }
  }
  // Removes `path` and everything below it.
  void remove(const std::string& path) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = below_or_at(it->first, path) ? entries_.erase(it) : std::next(it);
    }
    touch_dir(parent_of(path));
  }
  // rename(2): the objects keep their inodes; an occupant of `to` is replaced.
  void rename(const std::string& from, const std::string& to) {
    std::map<std::string, sys::FileStat> moved;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (below_or_at(it->first, from)) {
        moved[to + it->first.substr(from.size())] = it->second;
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (has(to)) remove(to);
    for (auto& [p, st] : moved) entries_[p] = st;
    touch_dir(parent_of(from));
    touch_dir(parent_of(to));
  }
  void set_dev(const std::string& path, std::uint64_t dev) { entries_.at(path).dev = dev; }
  bool has(const std::string& path) const { return entries_.count(path) != 0; }
  std::uint64_t ino(const std::string& path) const { return entries_.at(path).ino; }

  int stat_at(int dirfd, const char* name, sys::FileStat& out) override {
    std::string p = dirfd == AT_FDCWD ? std::string(name) : join(open_.at(dirfd), name);
    auto it = entries_.find(p);
    if (it == entries_.end()) return ENOENT;
    out = it->second;
    return 0;
  }
  int stat_follow(const char* path, sys::FileStat& out) override { return stat_at(AT_FDCWD, path, out); }
  int open_dir(const char* path, int) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return -ENOENT;
    if (it->second.type != sys::FileType::dir) return -ENOTDIR;
    open_[next_fd_] = path;
    return next_fd_++;
  }
  void close(int fd) override { open_.erase(fd); }
  int read_dir(int dirfd, sys::DirReader&, std::vector<sys::DirEntry>& out) override {
    out.clear();
    names_.clear();
    const std::string prefix = join(open_.at(dirfd), "");
    for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      std::string name = it->first.substr(prefix.size());
      if (name.empty() || name.find('/') != std::string::npos) continue;
      names_.push_back(std::move(name));
      out.push_back(sys::DirEntry{names_.back(), it->second.type, it->second.ino});
    }
    return 0;
  }
  std::size_t open_fds() const { return open_.size(); }
  // The path a directory fd of open_dir() was opened at.
  const std::string& fd_path(int fd) const { return open_.at(fd); }
  // Where the object with inode `ino` is now, "" when nowhere.
  std::string path_of(std::uint64_t ino) const {
    for (const auto& [p, st] : entries_) {
      if (st.ino == ino) return p;
    }
    return {};
  }
  static std::string child(const std::string& dir, const std::string& name) { return join(dir, name); }

 private:
  static std::string parent_of(const std::string& p) {
    auto slash = p.rfind('/');
    return slash == 0 ? "/" : p.substr(0, slash);
  }
  static std::string join(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
  }
  static bool below_or_at(const std::string& p, const std::string& top) {
    return p == top || (p.size() > top.size() && p.compare(0, top.size(), top) == 0 && p[top.size()] == '/');
  }
  sys::FileStat& put(const std::string& path, sys::FileType type) {
    sys::FileStat st;
    st.dev = 1;
    st.ino = next_ino_++;
    st.type = type;
    st.mode = type == sys::FileType::dir ? 040755 : 0100644;
    st.mtime_ns = st.ctime_ns = ++tick_;  // far in the past for the fake clock: "old"
    st.nlink = type == sys::FileType::dir ? 2 : 1;
    if (path != "/") touch_dir(parent_of(path));
    return entries_[path] = st;
  }
  void touch_dir(const std::string& dir) {
    if (auto it = entries_.find(dir); it != entries_.end()) it->second.mtime_ns = it->second.ctime_ns = ++tick_;
  }

  std::map<std::string, sys::FileStat> entries_;
  std::unordered_map<int, std::string> open_;
  std::deque<std::string> names_;  // the last listing's names (DirEntry views into them)
  std::uint64_t next_ino_ = 100;
  std::int64_t tick_ = 0;
  int next_fd_ = 1 << 20;  // never a real fd's number
};

}  // namespace lookout::testing
