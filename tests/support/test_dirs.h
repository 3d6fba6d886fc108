// Test support: scratch directories that clean up after themselves, file helpers, and a
// Recorder that drives a Watcher's step() on the test's own thread until an expected event
// arrives or a deadline passes (the deadline only matters when the test fails).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lookout/watcher.h"

namespace lookout::testing {

class TempDir {
 public:
  TempDir();  // under $LOOKOUT_TEST_TMP, else /tmp
  explicit TempDir(const std::string& base);  // under `base` (e.g. a TmpfsMount)
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Root only: a tmpfs mounted on a fresh directory for the test's lifetime; the destructor
// unmounts it (lazily if something still holds it) and removes the directory.
class TmpfsMount {
 public:
  TmpfsMount();
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const { return mounted_; }
  const std::string& why() const { return why_; }  // errno text when !ok()
  const std::string& path() const { return base_.path(); }

 private:
  TempDir base_;
  std::string why_;
  bool mounted_ = false;
};

// Root only: a filesystem mounted on `dir` (made if missing) inside a test's tree, for tests
// that unmount it while it is watched (`umount -l`); the destructor unmounts it lazily if it
// is still there. `mount_args` is what `mount` gets before the directory, e.g.
// "-t tmpfs -o size=1m lookout-test".
class Submount {
 public:
  Submount(const std::string& dir, const std::string& mount_args);
  ~Submount();
  Submount(const Submount&) = delete;
  Submount& operator=(const Submount&) = delete;
  bool ok() const { return mounted_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Writes `value` to a /proc/sys file and puts the old value back on restore() or when
// destroyed, whatever happens in between. Root only; valid() is false if it could not write.
// The knobs are global: hold one only for as long as the kernel needs to read it.
class SysctlOverride {
 public:
  SysctlOverride(std::string path, const std::string& value);
  ~SysctlOverride() { restore(); }
  SysctlOverride(const SysctlOverride&) = delete;
  SysctlOverride& operator=(const SysctlOverride&) = delete;
  bool valid() const { return active_; }  // false: the value could not be changed
  const std::string& old_value() const { return old_; }
  bool restore();

 private:
  std::string path_, old_;
  bool active_ = false;
};

void write_file(const std::string& path, const std::string& data);
void append_file(const std::string& path, const std::string& data);
void make_dirs(const std::string& path);
// Creates `n` empty files "f0000000", "f0000001", ... in `dir`, numbered on from `next`
// (advanced): names of one length, so every inotify record of them has the same size.
// False (and a test failure) when one cannot be made.
bool create_numbered_files(const std::string& dir, int& next, int n);
void remove_all(const std::string& path);
void rename_path(const std::string& from, const std::string& to);
bool is_root_user();
// Runs a shell command; returns its exit status.
int sh(const std::string& command);

// Drives a watcher with step() and collects its events.
class Recorder {
 public:
  // threaded=false: the recorder drives step() itself. threaded=true: another thread runs
  // the loop (Watcher::run) and the recorder only consumes.
  explicit Recorder(Watcher& w, bool threaded = false) : w_(w), threaded_(threaded) {}
  // Steps until pred(events so far) is true or `deadline` passes; returns pred's last value.
  bool wait_until(const std::function<bool(const std::vector<Event>&)>& pred,
                  std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Waits for an event of `kind` on `path` (and `from` for renames when given).
  bool wait_for(EventKind kind, const std::string& path, const std::string& from = {},
                std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Cookie sync: creates `cookie_path` and waits for its create event, so every event caused
  // before it has been seen.
  bool sync(const std::string& cookie_path);
  std::vector<Event>& events() { return events_; }
  std::size_t count(EventKind kind, const std::string& path) const;
  void clear() { events_.clear(); }
  std::string dump() const;

 private:
  void pump(int timeout_ms);
  Watcher& w_;
  bool threaded_;
  std::vector<Event> events_;
};

std::unique_ptr<Watcher> start_watcher(WatchOptions opt);

}  // namespace lookout::testing
