#include "support/test_dirs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace lookout::testing {

TempDir::TempDir() : TempDir(std::getenv("LOOKOUT_TEST_TMP") ? std::getenv("LOOKOUT_TEST_TMP") : "/tmp") {}

TempDir::TempDir(const std::string& base) {
  std::string tmpl = base + "/lookout-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TmpfsMount::TmpfsMount() {
  if (::mount("lookout-test", base_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
              "size=256m,nr_inodes=200000,mode=0755") != 0) {
    why_ = std::string("mount -t tmpfs ") + base_.path() + ": " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_ && ::umount2(base_.path().c_str(), 0) != 0) ::umount2(base_.path().c_str(), MNT_DETACH);
}

Submount::Submount(const std::string& dir, const std::string& mount_args) : dir_(dir) {
  make_dirs(dir_);
  mounted_ = sh("mount " + mount_args + " " + dir_) == 0;
}

Submount::~Submount() {
  if (mounted_) sh("umount -l " + dir_ + " 2>/dev/null");
}

SysctlOverride::SysctlOverride(std::string path, const std::string& value) : path_(std::move(path)) {
  std::ifstream in(path_);
  if (!(in >> old_)) return;
  std::ofstream out(path_);
  out << value << "\n";
  out.flush();
  active_ = static_cast<bool>(out);
}

bool SysctlOverride::restore() {
  if (!active_) return true;
  active_ = false;
  std::ofstream out(path_);
  out << old_ << "\n";
  out.flush();
  return static_cast<bool>(out);
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}
void append_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::app) << data;
}
bool create_numbered_files(const std::string& dir, int& next, int n) {
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "f%07d", next++);
    const std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
      ADD_FAILURE() << "cannot create " << path << ": " << std::strerror(errno);
      return false;
    }
    ::close(fd);
  }
  return true;
}
void make_dirs(const std::string& path) { std::filesystem::create_directories(path); }
void remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}
void rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) ADD_FAILURE() << "rename " << from << " -> " << to;
}
bool is_root_user() { return ::geteuid() == 0; }
int sh(const std::string& command) { return std::system(command.c_str()); }

void Recorder::pump(int timeout_ms) {
  if (threaded_) {
    w_.next_batch(events_, timeout_ms);
    return;
  }
  w_.step(timeout_ms);
  w_.next_batch(events_, 0);
}

bool Recorder::wait_until(const std::function<bool(const std::vector<Event>&)>& pred,
                          std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  w_.next_batch(events_, 0);
  while (!pred(events_)) {
    if (std::chrono::steady_clock::now() >= end) return false;
    pump(20);
  }
  return true;
}

bool Recorder::wait_for(EventKind kind, const std::string& path, const std::string& from,
                        std::chrono::milliseconds deadline) {
  return wait_until(
      [&](const std::vector<Event>& evs) {
        for (const auto& e : evs) {
          if (e.kind == kind && e.path == path && (from.empty() || e.from == from)) return true;
        }
        return false;
      },
      deadline);
}

bool Recorder::sync(const std::string& cookie_path) {
  write_file(cookie_path, "");
  return wait_for(EventKind::create, cookie_path);
}

std::size_t Recorder::count(EventKind kind, const std::string& path) const {
  std::size_t n = 0;
  for (const auto& e : events_) n += e.kind == kind && e.path == path;
  return n;
}

std::string Recorder::dump() const {
  std::string s;
  for (const auto& e : events_) {
    s += std::string(event_kind_name(e.kind)) + " " + e.path;
    if (!e.from.empty()) s += " <- " + e.from;
    s += "\n";
  }
  return s;
}

std::unique_ptr<Watcher> start_watcher(WatchOptions opt) {
  auto w = Watcher::create(std::move(opt));
  if (!w) {
    ADD_FAILURE() << w.error().message;
    return nullptr;
  }
  auto started = (*w)->start();
  if (!started) {
    ADD_FAILURE() << started.error().message;
    return nullptr;
  }
  return std::move(*w);
}

}  // namespace lookout::testing
