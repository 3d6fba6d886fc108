// OwnDirReads: tells lookout's own directory listings from other processes' reads.
// A watch asked for open, access or close_nowrite also hears directories being read (`ls`,
// a backup): inotifywatch counts those. But every listing the engine makes (the crawl, a
// rescan, a new directory) causes the same records, and inotify says nothing of who caused
// one. So the engine's filesystem calls go through this decorator, which notes each
// directory it opens; the inotify tracker then takes one noted open per OPEN record of that
// directory and drops the ACCESS records until the matching CLOSE_NOWRITE. (fanotify says
// the pid and needs none of this.)
//
// Limits, by design: a listing whose records never come (the directory was not watched yet)
// is forgotten after kForgetAfterMs; an outside read of the same directory at the same
// moment as lookout's may lose its ACCESS records (its OPEN and CLOSE still count).
// Thread-safe: parallel crawls call open_dir from several threads.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "lookout/event.h"
#include "sys/clock.h"
#include "sys/fs.h"

namespace lookout::core {

class OwnDirReads final : public sys::Fs {
 public:
  // Records of a listing are queued at once; a read that waited this long for them is
  // taken to have caused none.
  static constexpr std::int64_t kForgetAfterMs = 10'000;

  OwnDirReads(sys::Fs& inner, sys::Clock& clock) : inner_(inner), clock_(clock) {}

  // True when `kind` (open, access or close_nowrite) on the directory `path` is lookout's
  // own listing, and takes it. Loop thread.
  bool own(EventKind kind, const std::string& path);
  // Listings noted and not yet matched (memory check in tests).
  std::size_t pending() const;

  // sys::Fs: open_dir notes the path (unless an O_PATH open raises no records: noted, it
  // would take another reader's records as lookout's); everything else is the inner's.
  int open_dir(const char* path, int flags) override;
  int stat_at(int dirfd, const char* name, sys::FileStat& out) override {
    return inner_.stat_at(dirfd, name, out);
  }
  int stat_follow(const char* path, sys::FileStat& out) override {
    return inner_.stat_follow(path, out);
  }
  int fstat(int fd, sys::FileStat& out) override { return inner_.fstat(fd, out); }
  int open_file_at(int dirfd, const char* name, int flags) override {
    return inner_.open_file_at(dirfd, name, flags);
  }
  void close(int fd) override { inner_.close(fd); }
  ssize_t read(int fd, void* buf, std::size_t n) override { return inner_.read(fd, buf, n); }
  void advise_sequential(int fd) override { inner_.advise_sequential(fd); }
  int read_dir(int dirfd, sys::DirReader& reader, std::vector<sys::DirEntry>& out) override {
    return inner_.read_dir(dirfd, reader, out);
  }
  int real_path(const char* path, std::string& out) override { return inner_.real_path(path, out); }
  int current_dir(std::string& out) override { return inner_.current_dir(out); }
  int fs_magic(const char* path, std::uint64_t& out) override { return inner_.fs_magic(path, out); }
  Result<std::vector<sys::MountEntry>> mounts() override { return inner_.mounts(); }
  int open_mount_notice() override { return inner_.open_mount_notice(); }
  void rearm_mount_notice(int fd) override { inner_.rearm_mount_notice(fd); }
  bool path_opens_silent() override { return inner_.path_opens_silent(); }

 private:
  struct Listings {
    std::deque<std::int64_t> opened_ms;  // opens whose OPEN record has not come yet
    int reading = 0;                     // OPEN records taken whose CLOSE_NOWRITE has not
    std::int64_t reading_since_ms = 0;   // when the last of them was taken
  };
  void forget_old(Listings& l, std::int64_t now) const;

  sys::Fs& inner_;
  sys::Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Listings> by_path_;
  std::int64_t last_sweep_ms_ = 0;
};

}  // namespace lookout::core
