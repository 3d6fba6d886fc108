// Watcher::Impl: the engine. Owns the loop (step()), the tree model, the event log and its
// subscribers (subscribers.cc), rescans and the start-up crawl (watcher.cc), the model
// changes every mechanism shares (model_changes.cc, hard_links.cc), which mechanism watches
// where (backend_choice.cc), and the trackers it drives alike (backend/tracker.h): the
// inotify and fanotify translators (core/inotify_translator.h, core/fanotify_translator.h),
// which own their kernel state and reach the engine only through core::EngineServices, and
// polling (poll_host.cc). What it takes from the OS comes through core::WatcherSeams. Loop
// thread only, except log and stop_fd, which are the thread-safe doors into the loop.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <unordered_set>
#include <vector>

#include "backend/poll_tracker.h"
#include "backend/tracker.h"
#include "core/engine_services.h"
#include "core/dir_fd_cache.h"
#include "core/event_log.h"
#include "core/fanotify_translator.h"
#include "core/inotify_translator.h"
#include "core/node_set.h"
#include "core/path_filter.h"
#include "core/tree_model.h"
#include "core/tree_scanner.h"
#include "lookout/watcher.h"
#include "core/watcher_seams.h"
#include "sys/clock.h"
#include "core/own_dir_reads.h"
#include "sys/fs.h"
#include "sys/content_hasher.h"
#include "sys/unique_fd.h"
#include "sys/waiter.h"

namespace lookout {

struct Watcher::Impl final : core::EngineServices {
  explicit Impl(WatchOptions o, core::WatcherSeams seams = {});
  // A Watcher over an Impl made with `seams` (tests: a fake clock; see watcher_seams.h).
  static std::unique_ptr<Watcher> create_with(WatchOptions o, core::WatcherSeams seams);

  // watcher.cc
  Result<void> start();
  bool step(int timeout_ms);
  void emit(EventKind kind, core::NodeId id, const std::string& from = {},
            const char* reason = "") override;
  // `st`: the entry's stat for the event's identity fields, when the caller has it.
  void emit_path(EventKind kind, const std::string& path, const std::string& from, bool is_dir,
                 core::NodeId root, const char* reason = "",
                 const sys::FileStat* st = nullptr) override;
  // emit_path's second half, for a kind that is reported: the path is moved into the event.
  void append_event(EventKind kind, std::string&& path, const std::string& from, bool is_dir,
                    core::NodeId root, const char* reason, const sys::FileStat* st);
  // emit_path for an event from a diff: the identity comes from the model's entry at `path`.
  void emit_found(EventKind kind, const std::string& path, const std::string& from, bool is_dir,
                  core::NodeId root, const char* reason = "");

  // subscribers.cc: what the loop does for subscriptions, between steps (the model then
  // matches every event appended so far).
  // Snapshots the model for readers cut off in this step, lists the tree for new readers that
  // asked for it, and hands the differences to cut-off readers that have caught up.
  void serve_readers();
  void list_existing(core::Reader& r);
  void hand_off(core::Reader& r, core::TreeModel& snapshot);
  std::unordered_map<std::shared_ptr<core::Reader>, std::unique_ptr<core::TreeModel>> reader_snapshots;
  bool service_due = false;
  void schedule_rescan(const char* reason) override;
  bool rescan_scheduled() const override { return rescan_pending; }
  void note_overflow() override {
    ++stats.overflows;
    schedule_rescan("overflow");
  }
  void rescan(const std::string& reason);
  void end(Error e);
  // Adds watches under `dir` and reports every entry not yet in the model as created.
  void catch_up(core::NodeId dir, bool report) override;
  // What a scan of the live tree does at each directory: watch it (inotify), key it
  // (fanotify), or hand it to polling; and whether new entries are reported.
  core::ScanHooks scan_hooks(bool report);
  // The reason a catch-up's creates carry ("with_parent" inside a directory moved in).
  const char* listing_reason = "";
  bool excluded(const std::string& path) const override;
  bool filters_paths() const override { return filter && !filter->empty(); }
  // The exclusion predicate for scanners; empty (no per-entry calls) without filters.
  std::function<bool(const std::string&, bool)> exclusion();
  void warn(const Error& e) {
    if (opt.on_diagnostic) opt.on_diagnostic(e, false);
  }
  bool under_polled(core::NodeId dir) const override { return poller.covers(model, dir); }
  // Whether a directory's entries belong in the model: every directory with -r, else only
  // a root's (a non-recursive watch reports its root's entries, not what they hold).
  bool listable(core::NodeId dir) const override { return opt.recursive || model.is_root(dir); }
  bool at_mount_boundary(core::NodeId dir) const override;
  // Polling (poll_host.cc): the backend that finds changes by comparing stats, and what it
  // calls back. `why`: the watch limit's error, said once.
  void start_polling(core::NodeId dir, const Error* why) { poller.start(dir, why, *poll_host); }
  void poll_pass(bool full);
  class PollLink;
  class PollDuty;
  std::unique_ptr<backend::PollHost> make_poll_host();
  std::unique_ptr<backend::Tracker> make_poll_tracker();
  // The mechanisms, each a backend::Tracker the loop drives alike. At most one kernel
  // tracker is live: inotify's or fanotify's.
  backend::Tracker* kernel_tracker() const {
    if (inotify->live()) return inotify.get();
    if (fanotify->live()) return fanotify.get();
    return nullptr;
  }
  // The live trackers, kernel first (a null entry: none).
  std::array<backend::Tracker*, 2> trackers() const { return {kernel_tracker(), poll_tracker.get()}; }
  // Rescan: fills the directories of `fresh` that could not be listed with the model's
  // entries (see scan_fresh's `unreadable`).
  void keep_unreadable(core::TreeModel& fresh,
                       const std::vector<std::pair<core::NodeId, int>>& dirs);
  void report_since_last_run();
  // --checksum: hashes the regular files under fresh_dir (see core/content_scan.h); `live`
  // null hashes the live model itself (the initial crawl). No-op without --checksum.
  void hash_contents(const core::TreeModel* live, core::NodeId live_dir, core::TreeModel& fresh,
                     core::NodeId fresh_dir);
  std::unique_ptr<sys::ContentHasher> hasher;  // only with --checksum
  bool warned_unreadable = false;  // one warning for unreadable files, not one per pass
  Result<void> save_state_now();
  std::int64_t next_state_save_ms = 0;
  std::uint64_t saved_at_position = UINT64_MAX;  // log.position() at the last save
  bool consumer_durable() const;  // WatchOptions::durable_through allows a save now
  // Every time the loop reads comes from `clock` (see sys/clock.h).
  sys::Clock* clock;
  // Set when directory reads are reported (open, access or close_nowrite asked): the
  // engine's own listings, told apart from other readers' (see core/own_dir_reads.h).
  std::unique_ptr<core::OwnDirReads> own_reads;
  // The filesystem calls of the loop and its scans (see watcher_seams.h); own_reads when set.
  sys::Fs* fs;
  sys::Waiter* waiter;  // step()'s poll(2) and batching sleep, the pending move's second look
  // `fs` may be called from several threads at once (the real one, or OwnDirReads over it):
  // the start-up crawl may list with threads.
  bool fs_thread_safe;
  // Directories whose entries are statted through an fd (see core/dir_fd_cache.h); emptied
  // at the end of every step() and start(), and at a rescan.
  core::DirFdCache dir_fds{*fs};
  // Stats `name` in the directory `dir`: through dir_fds when it has the directory's fd, by
  // the model's path otherwise. 0 or an errno, as sys::Fs::stat_at.
  int stat_child(core::NodeId dir, const std::string& name, sys::FileStat& st) override;
  // The same for the node `id` itself (a root by its path).
  int stat_node(core::NodeId id, sys::FileStat& st);
  // Both: `name` in `dir` (kTopNode: `name` is a root's path), through dir_fds, else by
  // path(), built only then.
  int stat_in(core::NodeId dir, const char* name, const std::function<std::string()>& path,
              sys::FileStat& st);
  std::int64_t now_ms() const { return clock->monotonic_ms(); }
  std::int64_t realtime_ns() const { return clock->realtime_ns(); }

  // backend_choice.cc: which mechanism watches which subtree, and saying so.
  // A decision as a `backend` event ("poll: why") and an info diagnostic (code ok) whose
  // cause says which option, if any, made it.
  void announce(core::NodeId dir, const char* backend, const std::string& why,
                Cause cause = Cause::none) override;
  // The same for a subtree not in the model yet (a mount found in the mount table).
  void announce_path(const std::string& path, core::NodeId root, const char* backend,
                     const std::string& why, Cause cause = Cause::none) override;
  // Why the mount at `mount_path` must be polled (remote, FUSE, overlay when asked), if so.
  struct PollingReason {
    std::string why;
    Cause cause = Cause::none;  // overlay_poll_asked when only WatchOptions::poll_overlay says so
  };
  std::optional<PollingReason> polling_reason(const std::string& mount_path) const;
  bool needs_polling(const std::string& mount_path) const override {
    return polling_reason(mount_path).has_value();
  }
  bool polling_instead(core::NodeId dir, const std::string& path) override;
  void poll_instead(core::NodeId dir, const std::string& why) override;
  // Auto mode, a tree past kFanotifyMinDirs: replaces the inotify watches made so far by a
  // fanotify filesystem mark, if this process may and the filesystem allows. False: stay.
  bool switch_to_fanotify(core::NodeId root);
  std::function<bool()> may_use_fanotify;  // auto mode's capability check (see watcher_seams.h)
  // The crawl that fills the model: before ready with inotify; after ready in fanotify mode
  // (the mark is live at once), in slices between reads.
  std::optional<core::TreeScanner> crawl;
  void continue_crawl(std::size_t max_dirs);
  void finish_crawl() { continue_crawl(SIZE_MAX); }
  void release_crawl_memory();
  // Before an overflow's rescan: finishes the crawl without hiding what the lost events
  // changed in directories not listed yet (see watcher.cc).
  void settle_crawl(const std::function<void()>& before_first_report);
  // Ready, minus the coarse clock's lag: a stamp at or after this may be a change after ready.
  std::int64_t started_ns = 0;
  bool has_ended() const override { return ended; }
  bool has_started() const override { return started; }
  bool crawling() const override { return crawl.has_value(); }
  std::int64_t ready_ns() const override { return started_ns; }

  // model_changes.cc: what an entry's arrival, departure or change means for the model,
  // whichever mechanism saw it.
  void appeared(core::NodeId dir, const std::string& name, bool is_dir_hint,
                const char* reason = "") override;
  void vanished(core::NodeId dir, const std::string& name, const char* reason = "") override;
  void root_gone(core::NodeId root, const char* how) override;
  // Whether inotifywait would hold a watch on this node, and so report its MOVE_SELF and
  // DELETE_SELF: the roots, and every directory under -r.
  bool watched_self(core::NodeId id) const override;
  // Stats the node at its path again. A file keeps its old stat when the name holds
  // another inode now (that change is reported by its own event, or by a rescan).
  bool restat(core::NodeId id) override;
  // restat() for a change record. An attrib record whose file's size or mtime moved
  // since the model last looked also reports `modify` first: the write's own record was
  // lost (an overflow) or went to another name, and taking the new stamps silently would
  // hide it from every later diff.
  void restat_reporting_writes(core::NodeId id, EventKind kind) override;
  void note_kernel_read() override { fresh_stats.clear(); }
  // Files restat_reporting_writes() statted since the last kernel read, with the model's
  // moves and removals then. Every change a read returns happened before the read, so a stat
  // taken while handling it already shows them all: a file written 10 times (open, modify,
  // close_write each) is statted once a read, not 20 times, which was a third of the loop's
  // time in a burst. A move or a removal (ids are reused) forgets them all.
  core::NodeSet fresh_stats;
  std::uint64_t fresh_stats_moves = 0, fresh_stats_removals = 0;
  // A move or a removal since fresh_stats was filled: it is emptied.
  void forget_fresh_stats_if_moved();
  // `id` was just statted (a new entry): fresh until the next kernel read.
  void note_fresh_stat(core::NodeId id) override;
  // restat() that says whether it took a new stat; `had` is model.stat(id), which the
  // caller already holds.
  bool restat_taken(core::NodeId id, const sys::FileStat& had);
  // Hard links (hard_links.cc). A change to a file with more than one name is a change to
  // every name: inotify (and fanotify) report it under the name used only. Changes are
  // noted while an event is handled and echoed to the inode's other names in the model
  // right after it, with their paths as they are then (one pass over the model an event).
  void note_link_change(core::NodeId id, EventKind kind, bool only_if_changed = false) override;
  static constexpr std::size_t kMaxUnresolvedLinkChanges = 4096;
  // A file that arrived in the tree (moved in, or found by a listing) with other names: a
  // write through it before it was watched changed them unseen. Their stamps are compared
  // at the end of the batch and any that moved is reported `modify`.
  void note_link_arrival(core::NodeId id) override;
  void echo_link_changes() override;
  struct LinkChange {
    std::uint64_t dev, ino;
    core::NodeId origin;
    EventKind kind;
    bool only_if_changed = false;  // an arrival: report a name only if its stamps moved
  };
  std::vector<LinkChange> link_changes;
  bool resolved_link_change = false;  // one of link_changes has its inode: echo it
  // Files without a stat whose restat() failed: their path did not resolve (an ancestor's
  // rename still queued). Their inode is unknown, so no echo would find them; they are
  // statted again before each echo and after each batch until it resolves.
  std::unordered_set<core::NodeId> unstatted;
  std::uint64_t unstatted_checked_at_moves = 0;  // model.moves() at the last echo's retry
  // Names a MOVED_TO landed on while their path did not resolve: the object there may be
  // another one. Statted again after each batch; a new object is reported as delete and
  // create (with its contents listed), the same one is left alone.
  std::unordered_set<core::NodeId> replaced_maybe;
  // Files whose write was reported while their path did not resolve (renamed since, the
  // rename still queued): their stamps are stale, yet the consumer was told of the write.
  // The rename that resolves the path reports no second `modify` for it (check_arrived).
  std::unordered_set<core::NodeId> writes_told_stale;
  // WatchOptions::stat_writes off (and no state file or checksum): a write record leaves the
  // file's stamps stale (writes_told_stale says so) instead of statting it, and the stamps are
  // read again kWriteStatDelayMs later (deferred_write_stats.cc). A file appended to in every
  // kernel read was statted in every one: half of `tail`'s CPU over 1000 busy files.
  bool defer_write_stats = false;
  static constexpr std::int64_t kWriteStatDelayMs = 1000;
  // Up to this many files stale at once; past it a write is statted at once, as without.
  static constexpr std::size_t kMaxDeferredWriteStats = 16384;
  struct DeferredWriteStat {
    core::NodeId id;
    std::int64_t due_ms;
  };
  std::deque<DeferredWriteStat> deferred_write_stats;  // in due order
  // Instead of restatting `id` for a write record: whether it was left stale (then the
  // caller reports the write without a stat).
  bool defer_write_stat(core::NodeId id, const sys::FileStat& had, bool had_stat);
  // Restats the deferred files whose time has come (step() wakes for the first one).
  void restat_deferred_writes();
  // A write record whose file's stamps are stale: its event carries no stat.
  bool stat_is_stale(core::NodeId id, EventKind kind) const {
    return (kind == EventKind::modify || kind == EventKind::close_write) && !writes_told_stale.empty() &&
           writes_told_stale.count(id) > 0;
  }
  void recheck_replaced();
  void restat_unstatted();
  // Restats a file that arrived at a new name (a rename in the tree) and reports `modify`
  // when its size or mtime moved while the model was not told: written through another
  // name, outside the tree, which no watch here sees. `before`: the model's stat until now.
  void check_arrived(core::NodeId id, const sys::FileStat& before, bool had_stat) override;

  WatchOptions opt;
  std::shared_ptr<core::PathFilter> filter;
  core::TreeModel model;
  // Shared with the subscriptions, which may outlive the Watcher.
  std::shared_ptr<core::EventLog> shared_log;
  core::EventLog& log;
  // The reader behind next_batch() (WatchOptions::primary_consumer): it holds the loop.
  std::shared_ptr<core::Reader> primary;
  std::unique_ptr<Subscription> primary_sub;  // the same reader, for Watcher::primary()
  sys::UniqueFd stop_fd;

  // Directories not watched or not listed because their path did not resolve when we tried
  // (an ancestor's rename not yet handled): watched and listed again after every batch.
  std::unordered_set<core::NodeId> blind;
  void note_blind(core::NodeId dir) override { blind.insert(dir); }
  void note_replaced_maybe(core::NodeId id) override {
    if (replaced_maybe.size() < 4096) replaced_maybe.insert(id);
  }
  bool any_blind() const override { return !blind.empty(); }
  // Lists again every blind directory, or only those at or below `under` (both backends).
  void retry_blind(core::NodeId under = core::kNoNode) override;
  // Directories that could not be listed (or watched) for want of file descriptors or
  // memory (EMFILE, ENFILE, ENOMEM): listed again, with a backoff of 50 ms doubling to 2 s,
  // until they can be, and what they hold then is reported as created. Never left blind.
  std::unordered_set<core::NodeId> starved;
  std::int64_t next_starved_retry_ms = 0;
  int starved_backoff_ms = 0;
  bool warned_starved = false;  // one warning per run, naming the limit and the fix
  void note_starved(core::NodeId dir, int err);
  void retry_starved();
  // The trackers. The translators live as long as the engine, live or not (a model node's
  // removal reaches every one of them: see the remove hook in watcher.cc).
  std::unique_ptr<core::InotifyTranslator> inotify;
  std::unique_ptr<core::FanotifyTranslator> fanotify;
  std::unique_ptr<backend::PollHost> poll_host;  // a PollLink to this
  std::unique_ptr<backend::Tracker> poll_tracker;
  backend::PollTracker poller;  // subtrees found by polling instead of a kernel mechanism
  std::int64_t next_reconcile_ms = 0;

  bool rescan_pending = false;
  std::string rescan_reason;
  std::int64_t rescan_due_ms = 0;
  std::int64_t last_rescan_end_ms = -1000000;
  int backoff_ms = 0;
  // The initial crawl lists files without stat'ing them (readiness needs only directories);
  // files left without a stat were last seen unchanged at unstat_since_ns (see DiffSink).
  bool defer_file_stats = false;
  std::int64_t unstat_since_ns = INT64_MAX;
  bool busy = false;  // the last read was large, or one of a stream: batch the next one
                      // (docs/kernel-facts.md#inotify-read-batching)
  // Records read since stream_since_ms (a window of up to 2 ms): a stream when it reaches
  // kStreamRecords.
  std::int64_t stream_since_ms = INT64_MIN / 2;
  std::size_t stream_records = 0;
  bool started = false;
  bool ended = false;
  bool stop_requested = false;
  Error end_error;
  WatcherStats stats;
  // stats() is read from other threads (a metrics endpoint): the loop publishes a copy at the
  // end of every step and of every other loop-thread entry point.
  void publish_stats();
  std::mutex published_mu;
  WatcherStats published;
};

}  // namespace lookout
