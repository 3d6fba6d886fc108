// TreeScanner: reads a directory subtree from the filesystem into a TreeModel.
// Used three ways: the initial crawl, catching up on a directory that just appeared (after
// its watch is live, so nothing created in between is missed), and a fresh scan into an
// empty model that the diff engine compares with the live one. Symlinks are never followed;
// a bind-mount loop is cut where a directory would contain its own ancestor.
// Not thread-safe; the hooks run on the caller's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tree_model.h"
#include "lookout/result.h"
#include "sys/dir_reader.h"
#include "sys/fs.h"

namespace lookout::core {

struct ScanHooks {
  // Before a directory is listed (its absolute path given). Return false to not list it
  // (e.g. its watch could not be added and the caller gave up on the subtree).
  std::function<bool(NodeId dir, const std::string& path)> enter_dir;
  // For each entry the scan added to the model (not for entries that were already there).
  std::function<void(NodeId id)> added;
  // True if `path` must not enter the model at all (excluded directories get no watch).
  std::function<bool(const std::string& path, bool is_dir)> excluded;
  // A directory that could not be opened or listed (permission denied, ...).
  std::function<void(const Error&)> error;
  // A directory whose path did not resolve when it was to be listed (deleted, or renamed
  // with the event not yet handled): the caller may list it again later.
  std::function<void(NodeId dir)> unlisted;
  // Any directory that exists but could not be opened or listed (EACCES, EMFILE, ...), with
  // the errno; called before `starved` or `error`. A fresh scan for a diff uses it to keep
  // the live model's entries there (an empty listing would read as all of them deleted).
  std::function<void(NodeId dir, int err)> unreadable;
  // A directory that could not be opened or listed for want of a resource that may come
  // back (EMFILE, ENFILE, ENOMEM): the caller should list it again later rather than leave
  // it blind. Empty: reported through `error` like any other failure.
  std::function<void(NodeId dir, int err)> starved;
  // False when the files of `dir` may enter the model without a stat (type and inode from
  // the listing, stat_known false): readiness needs only directories, and a file's stat can
  // be taken when something asks for it. Empty: every entry is stat'ed.
  std::function<bool(NodeId dir)> stat_files;
  // After `dir` was listed, its fd still open (fanotify keys directories by their handle).
  std::function<void(NodeId dir, int dirfd)> listed;
};

class TreeScanner {
 public:
  // Every filesystem call goes through `fs`, which must outlive the scanner.
  TreeScanner(TreeModel& model, ScanHooks hooks, sys::Fs& fs = sys::real_fs())
      : model_(model), hooks_(std::move(hooks)), fs_(fs) {}
  // Scans the directory `dir` (already in the model) and everything below it.
  void scan(NodeId dir) {
    begin(dir);
    run(SIZE_MAX);
  }
  // The same in slices, so a loop can read events between them: begin() queues `dir`,
  // run() lists up to max_dirs directories and returns true once nothing is left.
  void begin(NodeId dir) { stack_.push_back(dir); }
  bool run(std::size_t max_dirs);
  bool done() const { return stack_.empty(); }
  // Directories queued and not listed yet (their descendants are not in the model).
  const std::vector<NodeId>& pending() const { return stack_; }

 private:
  bool is_loop(NodeId dir) const;
  std::vector<NodeId> stack_;
  TreeModel& model_;
  ScanHooks hooks_;
  sys::Fs& fs_;
  sys::DirReader reader_;
  std::vector<sys::DirEntry> entries_;
};

// Builds a model holding one root at `abs_path`, fully scanned (only the root's own entries
// when not `recursive`), without watches or events. `excluded` may be empty. Fails only if
// the root itself cannot be read. `unreadable`, when given, receives the directories of `out`
// that exist but could not be listed (they are empty in `out`), with the errno.
Result<bool> scan_fresh(TreeModel& out, const std::string& abs_path,
                        const std::function<bool(const std::string&, bool)>& excluded,
                        const std::function<void(const Error&)>& on_error,
                        std::vector<std::pair<NodeId, int>>* unreadable = nullptr,
                        bool recursive = true, sys::Fs& fs = sys::real_fs());

}  // namespace lookout::core
