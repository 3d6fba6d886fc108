// FakeFs: an in-memory directory tree behind the sys::Fs seam, so the engine's scans and
// stats run without a filesystem. Absolute paths, no symlinks; one device unless a test
// says otherwise (set_dev). Directory fds are numbers of its own, never real fds.
// Single-threaded, like the loop that uses it (a polling pass walks with one thread below
// 4096 entries: keep polled fake trees smaller).
#pragma once

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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
    content_[entries_.at(path).ino] = static_cast<char>('a' + tick_ % 26);
  }
  // New content of the same size, with the old mtime put back (`touch -r`): only the
  // ctime and the bytes tell.
  void rewrite_keeping_mtime(const std::string& path) {
    sys::FileStat& st = entries_.at(path);
    st.ctime_ns = ++tick_;
    char& c = content_[st.ino];
    c = c == 'z' ? 'a' : static_cast<char>(c + 1);
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
  // link(2): a second name for the file at `from` (its stat copied, the link count of both
  // names raised). The names keep separate stats afterwards: a write updates the one written.
  void link(const std::string& from, const std::string& to) {
    sys::FileStat& st = entries_.at(from);
    ++st.nlink;
    st.ctime_ns = ++tick_;
    entries_[to] = st;
    touch_dir(parent_of(to));
  }
  // The link count only (no second name is made): what a hard-linked file's stat says.
  void set_nlink(const std::string& path, std::uint16_t n) { entries_.at(path).nlink = n; }
  bool has(const std::string& path) const { return entries_.count(path) != 0; }
  std::uint64_t stat_calls = 0;  // stat_at and stat_follow: what an engine step costs
  std::uint64_t relative_stat_calls = 0;  // of those, stat_at relative to a directory fd
  std::uint64_t ino(const std::string& path) const { return entries_.at(path).ino; }

  int stat_at(int dirfd, const char* name, sys::FileStat& out) override {
    ++stat_calls;
    if (dirfd != AT_FDCWD) ++relative_stat_calls;
    std::string p = dirfd == AT_FDCWD ? std::string(name) : join(open_.at(dirfd), name);
    auto it = entries_.find(p);
    if (it == entries_.end()) return ENOENT;
    out = it->second;
    return 0;
  }
  int stat_follow(const char* path, sys::FileStat& out) override { return stat_at(AT_FDCWD, path, out); }
  int fstat(int fd, sys::FileStat& out) override {
    auto it = open_.find(fd);
    return it == open_.end() ? EBADF : stat_at(AT_FDCWD, it->second.c_str(), out);
  }
  int open_dir(const char* path, int) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return -ENOENT;
    if (it->second.type != sys::FileType::dir) return -ENOTDIR;
    open_[next_fd_] = path;
    return next_fd_++;
  }
  int open_file_at(int dirfd, const char* name, int) override {
    std::string p = join(open_.at(dirfd), name);
    auto it = entries_.find(p);
    if (it == entries_.end()) return -ENOENT;
    if (it->second.type == sys::FileType::dir) return -EISDIR;
    open_[next_fd_] = p;
    offsets_[next_fd_] = 0;
    return next_fd_++;
  }
  void close(int fd) override {
    open_.erase(fd);
    offsets_.erase(fd);
  }
  // A file's content is `size` copies of one byte that changes with each write.
  ssize_t read(int fd, void* buf, std::size_t n) override {
    auto it = entries_.find(open_.at(fd));
    if (it == entries_.end()) return -ESTALE;
    std::uint64_t& off = offsets_.at(fd);
    std::size_t left = it->second.size > off ? static_cast<std::size_t>(it->second.size - off) : 0;
    std::size_t got = std::min(n, left);
    std::memset(buf, content_[it->second.ino], got);
    off += got;
    return static_cast<ssize_t>(got);
  }
  // No symlinks: a path is its own real path.
  int real_path(const char* path, std::string& out) override {
    if (!has(path)) return ENOENT;
    out = path;
    return 0;
  }
  int current_dir(std::string& out) override {
    out = cwd_;
    return 0;
  }
  // tmpfs, unless a test gave the path's device another magic (set_magic).
  int fs_magic(const char* path, std::uint64_t& out) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return ENOENT;
    auto m = magic_.find(it->second.dev);
    out = m == magic_.end() ? 0x01021994 : m->second;  // TMPFS_MAGIC
    return 0;
  }
  void set_magic(std::uint64_t dev, std::uint64_t magic) { magic_[dev] = magic; }
  // One tmpfs on "/", unless a test lists others (set_mounts).
  Result<std::vector<sys::MountEntry>> mounts() override { return mounts_; }
  void set_mounts(std::vector<sys::MountEntry> m) { mounts_ = std::move(m); }
  void set_cwd(std::string dir) { cwd_ = std::move(dir); }
  // No mount-table notification: an unmount is not simulated.
  int open_mount_notice() override { return -ENOSYS; }
  void rearm_mount_notice(int) override {}
  // Like Linux 6.x: an O_PATH open raises no records (the fake raises none for any open).
  bool path_opens_silent() override { return true; }
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
  static sys::MountEntry root_mount() {
    sys::MountEntry m;
    m.mount_id = 1;
    m.mount_point = m.root = "/";
    m.fstype = "tmpfs";
    m.source = "tmpfs";
    return m;
  }
  void touch_dir(const std::string& dir) {
    if (auto it = entries_.find(dir); it != entries_.end()) it->second.mtime_ns = it->second.ctime_ns = ++tick_;
  }

  std::map<std::string, sys::FileStat> entries_;
  std::unordered_map<int, std::string> open_;
  std::unordered_map<int, std::uint64_t> offsets_;  // read positions of open files
  std::unordered_map<std::uint64_t, char> content_;  // ino -> the byte its content repeats
  std::vector<sys::MountEntry> mounts_{root_mount()};
  std::string cwd_ = "/";
  std::unordered_map<std::uint64_t, std::uint64_t> magic_;  // dev -> statfs f_type
  std::deque<std::string> names_;  // the last listing's names (DirEntry views into them)
  std::uint64_t next_ino_ = 100;
  std::int64_t tick_ = 0;
  int next_fd_ = 1 << 20;  // never a real fd's number
};

}  // namespace lookout::testing
