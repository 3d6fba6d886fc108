// TreeScanner: reads a directory subtree from the filesystem into a TreeModel.
// Used three ways: the initial crawl, catching up on a directory that just appeared (after
// its watch is live, so nothing created in between is missed), and a fresh scan into an
// empty model that the diff engine compares with the live one. Symlinks are never followed;
// a bind-mount loop is cut where a directory would contain its own ancestor.
// Not thread-safe; the hooks run on the caller's thread. With set_threads(), a large crawl
// is listed by DirListers threads while the caller's thread watches and applies (see run()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dir_listers.h"
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
  // Not called for directories listed by other threads (see TreeScanner::set_threads).
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
  ~TreeScanner();
  // The same in slices, so a loop can read events between them: begin() queues `dir`,
  // run() lists about max_dirs directories and returns true once nothing is left. `stop`,
  // when given, is asked every few dozen directories and ends the slice early when true.
  // Nothing is in flight when run() returns.
  void begin(NodeId dir) { stack_.push_back(dir); }
  bool run(std::size_t max_dirs, const std::function<bool()>& stop = {});
  bool done() const { return stack_.empty(); }
  // Directories queued and not listed yet (their descendants are not in the model).
  const std::vector<NodeId>& pending() const { return stack_; }
  // Once this scanner has listed kParallelAfterDirs directories and more are queued, the
  // rest are opened, listed and stat'ed by `threads` other threads (0: none, every listing
  // on the caller's thread). The caller's thread still calls enter_dir (adds the watch)
  // before a directory is handed out, and applies each listing to the model with the hooks;
  // a directory's node exists before its listing is handed out, so before its children's.
  // Listings from other threads give `listed` no fd: only for callers that need none.
  // REQUIRES: `fs` thread-safe when threads > 0. Takes effect at the next run().
  void set_threads(unsigned threads);
  // Below this many directories a crawl takes a few milliseconds: no threads.
  static constexpr std::size_t kParallelAfterDirs = 256;
  // Listing threads worth starting on this machine (one core stays the caller's).
  static unsigned listing_threads();

 private:
  bool is_loop(NodeId dir) const;
  // Checks, enter_dir: the path to list `dir` at, false when it is not to be listed.
  bool prepare(NodeId dir, std::string& path);
  // Adds one listed entry of `dir` unless excluded or known; queues it when a directory.
  void add_entry(NodeId dir, const std::string& dir_path, std::string_view name,
                 const sys::FileStat& st, bool known, bool was_empty);
  // Reports an open or getdents64 failure of `dir` through the hooks.
  void failed(NodeId dir, const std::string& dir_path, int err, bool opening);
  bool run_parallel(std::size_t max_dirs, const std::function<bool()>& stop);
  void apply(DirListing& listing);
  std::vector<NodeId> stack_;
  TreeModel& model_;
  ScanHooks hooks_;
  sys::Fs& fs_;
  sys::DirReader reader_;
  std::vector<sys::DirEntry> entries_;
  std::size_t listed_ = 0;  // directories listed so far, by this scanner
  unsigned threads_ = 0;
  std::unique_ptr<DirListers> listers_;
  std::vector<std::unique_ptr<DirListing>> batch_, finished_, spare_;
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
