// FakeFanotify: a scripted fanotify group behind the backend::Fanotify seam, over a FakeFs.
// A directory's key is "K" + its inode, so keys follow the object through renames as file
// handles do; marks are per device. The test queues the records a change would raise
// (FAN_CREATE with the directory's key and the name, FAN_RENAME with both places, ...).
// Its fd is an eventfd, readable while records are queued.
#pragma once

#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <deque>
#include <set>
#include <string>
#include <vector>

#include "backend/fanotify_backend.h"
#include "support/fake_fs.h"

namespace lookout::testing {

class FakeFanotify final : public backend::Fanotify {
 public:
  explicit FakeFanotify(FakeFs& fs) : fs_(fs), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeFanotify() override { ::close(fd_); }

  Result<void> mark(const std::string& path) override {
    sys::FileStat st;
    if (int err = fs_.stat_follow(path.c_str(), st); err != 0) return error_from_errno(err, "fanotify_mark", path);
    devs_.insert(st.dev);
    return {};
  }
  bool marked(std::uint64_t dev) const override { return devs_.count(dev) != 0; }
  std::size_t mark_count() const override { return devs_.size(); }
  int fd() const override { return fd_; }
  Result<std::size_t> drain(std::vector<backend::FanEvent>& out, std::size_t max) override {
    std::size_t n = 0;
    for (; n < max && !queued_.empty(); ++n) {
      out.push_back(std::move(queued_.front()));
      queued_.pop_front();
    }
    if (queued_.empty()) {
      std::uint64_t v;
      [[maybe_unused]] auto r = ::read(fd_, &v, sizeof v);
    }
    return n;
  }
  std::string key_of(int dirfd, std::uint64_t) override { return key(fs_.fd_path(dirfd)); }
  std::string key_of(int dirfd, const std::string& name, std::uint64_t) override {
    if (dirfd == AT_FDCWD) return key(name);  // an absolute path, as name_to_handle_at takes it
    return key(FakeFs::child(fs_.fd_path(dirfd), name));
  }
  std::string resolve(const std::string& k) const override {
    return k.size() > 1 ? fs_.path_of(std::stoull(k.substr(1))) : std::string{};
  }
  std::string key_in(const std::string& dir_key, const std::string& name) const override {
    std::string dir = resolve(dir_key);
    return dir.empty() ? std::string{} : key(FakeFs::child(dir, name));
  }

  // The key of what is at `path` now ("" when nothing is).
  std::string key(const std::string& path) const {
    return fs_.has(path) ? "K" + std::to_string(fs_.ino(path)) : std::string{};
  }
  // Queues a record about `name` in the directory `dir` (its key taken now).
  void queue(std::uint64_t mask, const std::string& dir, const std::string& name) {
    backend::FanEvent ev;
    ev.mask = mask;
    ev.dir_key = key(dir);
    ev.name = name;
    queue(std::move(ev));
  }
  void queue(backend::FanEvent ev) {
    queued_.push_back(std::move(ev));
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(fd_, &one, sizeof one);
  }

 private:
  FakeFs& fs_;
  int fd_;
  std::set<std::uint64_t> devs_;
  std::deque<backend::FanEvent> queued_;
};

}  // namespace lookout::testing
