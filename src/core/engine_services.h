// EngineServices: what the engine (Watcher::Impl) does for the kernel translators
// (InotifyTranslator, FanotifyTranslator): reporting, the model changes every mechanism
// shares (an entry appeared, vanished or changed, a root went, hard-link echoes), listing
// and recovery (catch-up scans, blind directories, rescans) and backend decisions. A
// translator owns what its records mean and its own side tables; the engine owns the model,
// the event log, the loop, rescans, the crawl and polling. Loop thread only.
#pragma once

#include <cstdint>
#include <string>

#include "core/tree_model.h"
#include "lookout/event.h"
#include "lookout/result.h"
#include "sys/fs.h"

namespace lookout::core {

// A MOVED_FROM that auto mode's hand-over read without its MOVED_TO (InotifyTranslator::
// drain_all): the node left where the model had it, with its identity then, for the
// fanotify mark's records to settle (FanotifyTranslator::settle_unpaired_moves).
struct UnpairedMove {
  NodeId dir;
  std::string name;
  NodeId node;
  std::uint64_t dev = 0, ino = 0;
};

class EngineServices {
 public:
  // Reporting: an Event for the node `id` (its path, kind and identity from the model), or
  // for a path the model may not hold (`root`: the root it is under, for filters).
  virtual void emit(EventKind kind, NodeId id, const std::string& from = {},
                    const char* reason = "") = 0;
  virtual void emit_path(EventKind kind, const std::string& path, const std::string& from,
                         bool is_dir, NodeId root, const char* reason = "",
                         const sys::FileStat* st = nullptr) = 0;

  // Scope: the path filters; whether a directory's entries belong in the model; whether
  // inotifywait would hold a watch on the node (and so report its own end and moves);
  // whether a directory is a mount point (or a root); whether polling covers it.
  virtual bool excluded(const std::string& path) const = 0;
  virtual bool filters_paths() const = 0;  // false: excluded() is false for every path
  virtual bool listable(NodeId dir) const = 0;
  virtual bool watched_self(NodeId id) const = 0;
  virtual bool at_mount_boundary(NodeId dir) const = 0;
  virtual bool under_polled(NodeId dir) const = 0;

  // Model changes every mechanism makes alike (see watcher_impl.h for the contracts).
  virtual void appeared(NodeId dir, const std::string& name, bool is_dir_hint,
                        const char* reason = "") = 0;
  virtual void vanished(NodeId dir, const std::string& name, const char* reason = "") = 0;
  virtual void root_gone(NodeId root, const char* how) = 0;
  virtual bool restat(NodeId id) = 0;  // true when it took a new stat (see restat_taken)
  virtual void restat_reporting_writes(NodeId id, EventKind kind) = 0;
  // An object arrived at the name of `id` whose path no longer resolves (moved on before its
  // record was read): whether it replaced what the model holds cannot be told yet. Looked at
  // again after the read, at wherever the node is then (see Watcher::Impl::replaced_maybe).
  virtual void note_replaced_maybe(NodeId id) = 0;
  // Stats `name` in the directory `dir` through the engine's directory fds (a burst's new
  // files cost a one-name lookup each, not a whole path's): 0 or an errno.
  virtual int stat_child(NodeId dir, const std::string& name, sys::FileStat& st) = 0;
  // `id` was just given a stat taken after the last kernel read: a write record for it in
  // that read needs no second one (see Watcher::Impl::fresh_stats).
  virtual void note_fresh_stat(NodeId id) = 0;
  // A read from the kernel queue is about to be handled: stats taken from now on reflect
  // every change it holds (see Watcher::Impl::fresh_stats).
  virtual void note_kernel_read() = 0;
  virtual void check_arrived(NodeId id, const sys::FileStat& before, bool had_stat) = 0;
  // Hard links (hard_links.cc): noted while a record is applied, echoed right after it.
  virtual void note_link_change(NodeId id, EventKind kind, bool only_if_changed = false) = 0;
  virtual void note_link_arrival(NodeId id) = 0;
  virtual void echo_link_changes() = 0;

  // Listing and recovery.
  // Watches (or keys) and lists `dir`; `report`: what was not in the model is created.
  virtual void catch_up(NodeId dir, bool report) = 0;
  // A directory whose path did not resolve: watched and listed again after the batch.
  virtual void note_blind(NodeId dir) = 0;
  virtual bool any_blind() const = 0;
  // Lists the blind directories again (all, or those at or below `under`).
  virtual void retry_blind(NodeId under = kNoNode) = 0;
  virtual void schedule_rescan(const char* reason) = 0;
  virtual bool rescan_scheduled() const = 0;
  // The kernel's queue overflowed: counted, and a rescan is scheduled.
  virtual void note_overflow() = 0;

  // Backend decisions (backend_choice.cc), each announced as a `backend` event.
  // Hands the mount at `dir` to polling if its filesystem needs it (remote, FUSE, ...).
  virtual bool polling_instead(NodeId dir, const std::string& path) = 0;
  // Whether the mount at `mount_path` needs polling.
  virtual bool needs_polling(const std::string& mount_path) const = 0;
  // Hands `dir` to polling, saying why.
  virtual void poll_instead(NodeId dir, const std::string& why) = 0;
  virtual void announce(NodeId dir, const char* backend, const std::string& why,
                        Cause cause = Cause::none) = 0;
  virtual void announce_path(const std::string& path, NodeId root, const char* backend,
                             const std::string& why, Cause cause = Cause::none) = 0;

  // Where the engine is: watching has ended; start() has returned (ready); the crawl that
  // fills the model after ready is under way; ready's time minus the coarse clock's lag.
  virtual bool has_ended() const = 0;
  virtual bool has_started() const = 0;
  virtual bool crawling() const = 0;
  virtual std::int64_t ready_ns() const = 0;

 protected:
  ~EngineServices() = default;
};

}  // namespace lookout::core
