// FakeInotify: a scripted kernel behind the sys::InotifyCalls seam. Watches are per inode
// of a FakeFs, as the kernel's are per inode; the test queues the events a change would
// raise (queue()) and the backend reads them as struct inotify_event records. Its fd is an
// eventfd, readable while events are queued, so step()'s poll(2) sees it as it would an
// inotify fd. inotify_rm_watch queues IN_IGNORED, as the kernel does.
#pragma once

#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "support/fake_fs.h"
#include "sys/inotify_calls.h"

namespace lookout::testing {

class FakeInotify final : public sys::InotifyCalls {
 public:
  explicit FakeInotify(FakeFs& fs) : fs_(fs) {}

  int open() override {
    fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);  // closed by the backend's UniqueFd
    return fd_;
  }
  int add(int, const char* path, std::uint32_t mask) override {
    sys::FileStat st;
    if (fs_.stat_at(AT_FDCWD, path, st) != 0) return -ENOENT;
    if ((mask & IN_ONLYDIR) && st.type != sys::FileType::dir) return -ENOTDIR;
    if (fail_next_add_ != 0) return -std::exchange(fail_next_add_, 0);
    auto [it, fresh] = wd_by_ino_.emplace(st.ino, next_wd_);
    if (fresh) ++next_wd_;
    ++adds_;
    return it->second;
  }
  void remove(int, int wd) override {
    removed_.push_back(wd);
    for (auto it = wd_by_ino_.begin(); it != wd_by_ino_.end(); ++it) {
      if (it->second == wd) {
        wd_by_ino_.erase(it);
        queue(wd, IN_IGNORED);
        return;
      }
    }
  }
  long read(int, void* buf, std::size_t len) override {
    std::size_t n = 0;
    auto* out = static_cast<char*>(buf);
    while (!queued_.empty()) {
      const Queued& q = queued_.front();
      // Names padded to a multiple of 16 bytes with NULs, as the kernel does.
      std::size_t name_len = q.name.empty() ? 0 : (q.name.size() / 16 + 1) * 16;
      std::size_t rec = sizeof(inotify_event) + name_len;
      if (n + rec > len) break;
      inotify_event ev{q.wd, q.mask, q.cookie, static_cast<std::uint32_t>(name_len)};
      std::memcpy(out + n, &ev, sizeof ev);
      std::memset(out + n + sizeof ev, 0, name_len);
      std::memcpy(out + n + sizeof ev, q.name.data(), q.name.size());
      n += rec;
      queued_.pop_front();
    }
    if (queued_.empty()) {
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(fd_, &v, sizeof v);  // no longer readable
    }
    return static_cast<long>(n);
  }

  // The wd watching `path`'s inode, -1 when none.
  int wd(const std::string& path) const {
    if (!fs_.has(path)) return -1;
    auto it = wd_by_ino_.find(fs_.ino(path));
    return it == wd_by_ino_.end() ? -1 : it->second;
  }
  // Queues an event on the watch of `dir` (IN_ISDIR is the caller's to add).
  void queue(const std::string& dir, std::uint32_t mask, const std::string& name = {},
             std::uint32_t cookie = 0) {
    queue(wd(dir), mask, cookie, name);
  }
  void queue(int wd, std::uint32_t mask, std::uint32_t cookie = 0, const std::string& name = {}) {
    queued_.push_back(Queued{wd, mask, cookie, name});
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd_, &one, sizeof one);
  }
  // The next inotify_add_watch fails with `err` (ENOSPC: the watch limit).
  void fail_next_add(int err) { fail_next_add_ = err; }
  const std::vector<int>& removed() const { return removed_; }
  std::size_t watches() const { return wd_by_ino_.size(); }

 private:
  struct Queued {
    int wd;
    std::uint32_t mask;
    std::uint32_t cookie;
    std::string name;
  };
  FakeFs& fs_;
  int fd_ = -1;
  int next_wd_ = 1;
  int fail_next_add_ = 0;
  std::size_t adds_ = 0;
  std::map<std::uint64_t, int> wd_by_ino_;
  std::deque<Queued> queued_;
  std::vector<int> removed_;
};

}  // namespace lookout::testing
