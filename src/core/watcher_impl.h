// Watcher::Impl: the loop's state. Split over watcher.cc (loop, start, rescans),
// inotify_translator.cc and fanotify_translator.cc / fanotify_renames.cc (what each record
// means for the model), backend_choice.cc (which mechanism where), hard_links.cc, and the
// trackers the loop drives (kernel_trackers.cc, poll_host.cc; see backend/tracker.h). What it
// takes from the OS comes through core::WatcherSeams. Loop thread only, except log and
// stop_fd, which are the thread-safe doors into the loop.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <unordered_set>
#include <vector>

#include "backend/fanotify_backend.h"
#include "backend/inotify_backend.h"
#include "backend/poll_tracker.h"
#include "backend/tracker.h"
#include "core/event_log.h"
#include "core/inotify_watches.h"
#include "core/path_filter.h"
#include "core/tree_model.h"
#include "core/tree_scanner.h"
#include "lookout/watcher.h"
#include "core/watcher_seams.h"
#include "sys/clock.h"
#include "sys/fs.h"
#include "sys/inotify_calls.h"
#include "sys/content_hasher.h"
#include "sys/unique_fd.h"
#include "sys/waiter.h"

namespace lookout {

struct Watcher::Impl {
  explicit Impl(WatchOptions o, core::WatcherSeams seams = {});
  // A Watcher over an Impl made with `seams` (tests: a fake clock; see watcher_seams.h).
  static std::unique_ptr<Watcher> create_with(WatchOptions o, core::WatcherSeams seams);

  // watcher.cc
  Result<void> start();
  bool step(int timeout_ms);
  void emit(EventKind kind, core::NodeId id, const std::string& from = {},
            const char* reason = "");
  // `st`: the entry's stat for the event's identity fields, when the caller has it.
  void emit_path(EventKind kind, const std::string& path, const std::string& from, bool is_dir,
                 core::NodeId root, const char* reason = "", const sys::FileStat* st = nullptr);
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
  void schedule_rescan(const char* reason);
  void rescan(const std::string& reason);
  void end(Error e);
  Result<void> watch_dir(core::NodeId dir, const std::string& path);
  // Adds watches under `dir` and reports every entry not yet in the model as created.
  void catch_up(core::NodeId dir, bool report);
  // What a scan of the live tree does at each directory: watch it (inotify), key it
  // (fanotify), or hand it to polling; and whether new entries are reported.
  core::ScanHooks scan_hooks(bool report);
  bool excluded(const std::string& path) const;
  // The exclusion predicate for scanners; empty (no per-entry calls) without filters.
  std::function<bool(const std::string&, bool)> exclusion();
  void warn(const Error& e) {
    if (opt.on_diagnostic) opt.on_diagnostic(e, false);
  }
  bool under_polled(core::NodeId dir) const { return poller.covers(model, dir); }
  // Whether a directory's entries belong in the model: every directory with -r, else only
  // a root's (a non-recursive watch reports its root's entries, not what they hold).
  bool listable(core::NodeId dir) const { return opt.recursive || model.is_root(dir); }
  bool at_mount_boundary(core::NodeId dir) const;
  // Polling (poll_host.cc): the backend that finds changes by comparing stats, and what it
  // calls back. `why`: the watch limit's error, said once.
  void start_polling(core::NodeId dir, const Error* why) { poller.start(dir, why, *poll_host); }
  void poll_pass(bool full);
  class PollLink;
  class PollDuty;
  std::unique_ptr<backend::PollHost> make_poll_host();
  std::unique_ptr<backend::Tracker> make_poll_tracker();
  // The mechanisms, each a backend::Tracker the loop drives alike (kernel_trackers.cc,
  // poll_host.cc). At most one kernel tracker is live: inotify's or fanotify's.
  class InotifyLink;
  class FanotifyLink;
  std::unique_ptr<backend::Tracker> make_inotify_link();
  std::unique_ptr<backend::Tracker> make_fanotify_link();
  backend::Tracker* kernel_tracker() const {
    return inotify ? inotify_link.get() : fan ? fanotify_link.get() : nullptr;
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
  // Every time the loop reads comes from `clock` (see sys/clock.h).
  sys::Clock* clock;
  // The filesystem calls of the loop and its scans, and the inotify calls (see watcher_seams.h).
  sys::Fs* fs;
  sys::InotifyCalls* inotify_calls;
  sys::Waiter* waiter;  // step()'s poll(2) and batching sleep, the pending move's second look
  std::int64_t now_ms() const { return clock->monotonic_ms(); }
  std::int64_t realtime_ns() const { return clock->realtime_ns(); }

  // backend_choice.cc: which mechanism watches which subtree, and saying so.
  // A decision as a `backend` event ("poll: why") and an info diagnostic (code ok) whose
  // cause says which option, if any, made it.
  void announce(core::NodeId dir, const char* backend, const std::string& why,
                Cause cause = Cause::none);
  // The same for a subtree not in the model yet (a mount found in the mount table).
  void announce_path(const std::string& path, core::NodeId root, const char* backend,
                     const std::string& why, Cause cause = Cause::none);
  std::uint64_t fanotify_mask() const;
  // Why the mount at `mount_path` must be polled (remote, FUSE, overlay when asked), if so.
  struct PollingReason {
    std::string why;
    Cause cause = Cause::none;  // overlay_poll_asked when only WatchOptions::poll_overlay says so
  };
  std::optional<PollingReason> polling_reason(const std::string& mount_path) const;
  // Auto mode, a tree past kFanotifyMinDirs: replaces the inotify watches made so far by a
  // fanotify filesystem mark, if this process may and the filesystem allows. False: stay.
  bool switch_to_fanotify(core::NodeId root);
  // --backend fanotify: marks a root's filesystem or fails with the reason.
  Result<void> mark_root(core::NodeId root);
  // A mount met inside a fanotify-watched tree: its own mark, or polling.
  void enter_submount(core::NodeId dir, const std::string& path);
  // Marks, before ready, every mount below `root` the mount table lists. False when one
  // cannot be marked (it will be polled): then the crawl must finish before ready, since
  // only a listing made before ready can be the baseline of what polling reports.
  bool mark_submounts(core::NodeId root);
  // The crawl that fills the model after ready in fanotify mode (the mark is live at once).
  std::optional<core::TreeScanner> crawl;
  void continue_crawl(std::size_t max_dirs);
  void finish_crawl() { continue_crawl(SIZE_MAX); }
  // fanotify has no IN_UNMOUNT: the mount table's poll notification (POLLPRI on
  // /proc/self/mountinfo) makes the loop check that each marked mount point is still there.
  std::optional<sys::FsFd> mountinfo_fd;  // from fs->open_mount_notice()
  std::unordered_set<core::NodeId> fan_mount_points;
  void check_mount_points();
  void release_crawl_memory();
  // Before an overflow's rescan: finishes the crawl without hiding what the lost events
  // changed in directories not listed yet (see watcher.cc).
  void settle_crawl(const std::function<void()>& before_first_report);
  // Directories the crawl listed after ready with entries already changed (or could not
  // list): kept until the events of the crawl's time are known to be complete.
  std::unordered_set<core::NodeId> crawl_suspects;
  // The crawl is under way, or its records may still be queued: records made before a
  // directory was listed can arrive after its listing, even after the crawl ended. Until a
  // read after the crawl reaches the queue's end, the model may lack what they describe.
  bool crawl_tail = false;
  bool model_partial() const { return crawl.has_value() || crawl_tail; }
  // While the model is partial: directories whose entries the model has as the consumer
  // does, in event order. Those listed before ready (the consumer's view at ready is the
  // listing; records of changes made before it are absorbed) and those created or moved in
  // after ready (the consumer knows their entries only from what was reported). A name
  // missing from one is unknown to the consumer; in a directory the crawl lists after
  // ready, the consumer may know it from its view at ready.
  std::unordered_set<core::NodeId> fan_in_step;
  bool in_step(core::NodeId dir) const { return dir != core::kNoNode && fan_in_step.count(dir) != 0; }
  // Ready, minus the coarse clock's lag: a stamp at or after this may be a change after ready.
  std::int64_t started_ns = 0;

  // fanotify_translator.cc
  struct FanPlace {
    bool known = false;            // false: outside every root, or gone (no path)
    core::NodeId dir = core::kNoNode;  // the directory's node, when the model has it
    std::string path;              // its path (from the model when it has it)
  };
  FanPlace locate(const std::string& key);
  static std::string child_path(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
  }
  void remember_outside(const std::string& key);  // bounded negative cache
  // Keys `dir` by its handle. `listed`: the key came from a listing or a path as it is now,
  // which may be ahead of the records still queued (see fan_map).
  void fan_map(core::NodeId dir, const std::string& key, bool listed = false);
  core::NodeId root_for(const std::string& path) const;
  // True when `path` (a directory under `root`) or a directory between them is excluded.
  bool excluded_below(core::NodeId root, const std::string& path) const;
  void handle_fan(std::vector<backend::FanEvent>& events);
  void handle_fan_one(const backend::FanEvent& ev);
  // `key`: the created directory's own key from the record, when the kernel gave one.
  void fan_created(const FanPlace& at, const std::string& name, bool is_dir, const char* reason,
                   const std::string& key);
  void fan_deleted(const FanPlace& at, const std::string& name, bool is_dir, const char* reason);
  void fan_changed(EventKind kind, const FanPlace& at, const std::string& name, bool is_dir);
  core::NodeId fan_node(const FanPlace& at, const std::string& name, const std::string& path) const;
  // The node is the object `st` describes (inode, device, type and birth when both have one).
  bool same_object(core::NodeId id, const sys::FileStat& st) const;
  // Renames not applied because the object was already back (see fan_renamed): where the
  // records still to come say it is -> where the model keeps it.
  struct FanName {
    core::NodeId dir;
    std::string name;
    bool operator==(const FanName& o) const { return dir == o.dir && name == o.name; }
  };
  struct FanNameHash {
    std::size_t operator()(const FanName& n) const {
      return std::hash<std::string>()(n.name) ^ (std::hash<core::NodeId>()(n.dir) * 0x9e3779b97f4a7c15ull);
    }
  };
  struct FanHome {
    FanName name;
    std::string key;  // the object's handle, when the record had one
  };
  std::unordered_map<FanName, FanHome, FanNameHash> fan_virtual;
  // While the model is partial: where the consumer has each object renamed since ready, by
  // its handle (directory key and name). The model alone cannot say: the crawl lists a
  // directory as it is when it gets there, and merged records are out of step (see
  // fanotify_renames.cc).
  struct FanSpot {
    std::string dir_key;
    std::string name;
    bool operator==(const FanSpot& o) const { return dir_key == o.dir_key && name == o.name; }
  };
  std::unordered_map<std::string, FanSpot> fan_told;
  // The rename in `ev` is undone: its object is back at its source and not at its
  // destination. Judged by handle where the record has one, else by the model's paths.
  bool rename_undone(const backend::FanEvent& ev, core::NodeId id, const std::string& from_path,
                     const std::string& to_path) const;
  // fanotify_renames.cc
  void fan_renamed(const backend::FanEvent& ev);
  // A rename whose object the model has at its source (and whose destination it has).
  void fan_rename_in_model(const backend::FanEvent& ev, core::NodeId id, const FanPlace& from,
                           const FanPlace& to);
  // A rename the model cannot check against its own entries (the crawl is under way).
  void fan_rename_unlisted(const backend::FanEvent& ev, core::NodeId id, const FanPlace& from,
                           const FanPlace& to);
  // Where the consumer was told the object with this handle is, as a path ("" if not told).
  std::string told_path(const std::string& object);
  // Remembers, while the model is partial, that the consumer now has the object at `spot`.
  void tell(const std::string& object, FanSpot spot);
  std::unique_ptr<backend::Fanotify> fan;
  // A fanotify group (FanotifyBackend, or the seam's), for marks asking for fanotify_mask().
  Result<std::unique_ptr<backend::Fanotify>> open_fanotify() const;
  std::function<Result<std::unique_ptr<backend::Fanotify>>(std::uint64_t)> fanotify_opener;
  std::function<bool()> may_use_fanotify;  // auto mode's capability check (see watcher_seams.h)
  std::vector<backend::FanEvent> fan_raw;
  // Directory key -> node (kNoNode: known to be outside every root), and back.
  std::unordered_map<std::string, core::NodeId> fan_dirs;
  std::unordered_map<core::NodeId, std::string> fan_key_of;
  // Keys claimed by a second node for the same directory (see fan_map): the nodes that
  // inherit them, in turn, when the node holding one is removed (fan_forget()).
  std::unordered_map<std::string, std::vector<core::NodeId>> fan_shadow;
  void fan_forget(core::NodeId id);
  std::size_t fan_outside = 0;  // entries with node kNoNode (the bounded negative cache)
  int self_pid = 0;

  // inotify_translator.cc
  void handle(std::vector<backend::RawEvent>& events);
  void handle_one(const backend::RawEvent& ev);
  void appeared(core::NodeId dir, const std::string& name, bool is_dir_hint,
                const char* reason = "");
  void moved(core::NodeId from_dir, const std::string& from_name, core::NodeId to_dir,
             const std::string& to_name, bool is_dir_hint);
  void vanished(core::NodeId dir, const std::string& name, const char* reason = "");
  void root_gone(core::NodeId root, const char* how);
  // Whether inotifywait would hold a watch on this node, and so report its MOVE_SELF and
  // DELETE_SELF: the roots, and every directory under -r.
  bool watched_self(core::NodeId id) const;
  void finish_pending_move();
  // Stats the node at its path again. A file keeps its old stat when the name holds
  // another inode now (that change is reported by its own event, or by a rescan).
  void restat(core::NodeId id);
  // restat() for a change record. An attrib record whose file's size or mtime moved
  // since the model last looked also reports `modify` first: the write's own record was
  // lost (an overflow) or went to another name, and taking the new stamps silently would
  // hide it from every later diff.
  void restat_reporting_writes(core::NodeId id, EventKind kind);
  // Hard links (hard_links.cc). A change to a file with more than one name is a change to
  // every name: inotify (and fanotify) report it under the name used only. Changes are
  // noted while an event is handled and echoed to the inode's other names in the model
  // right after it, with their paths as they are then (one pass over the model an event).
  void note_link_change(core::NodeId id, EventKind kind, bool only_if_changed = false);
  static constexpr std::size_t kMaxUnresolvedLinkChanges = 4096;
  // A file that arrived in the tree (moved in, or found by a listing) with other names: a
  // write through it before it was watched changed them unseen. Their stamps are compared
  // at the end of the batch and any that moved is reported `modify`.
  void note_link_arrival(core::NodeId id);
  void echo_link_changes();
  struct LinkChange {
    std::uint64_t dev, ino;
    core::NodeId origin;
    EventKind kind;
    bool only_if_changed = false;  // an arrival: report a name only if its stamps moved
  };
  std::vector<LinkChange> link_changes;
  // Files without a stat whose restat() failed: their path did not resolve (an ancestor's
  // rename still queued). Their inode is unknown, so no echo would find them; they are
  // statted again before each echo and after each batch until it resolves.
  std::unordered_set<core::NodeId> unstatted;
  // Names a MOVED_TO landed on while their path did not resolve: the object there may be
  // another one. Statted again after each batch; a new object is reported as delete and
  // create (with its contents listed), the same one is left alone.
  std::unordered_set<core::NodeId> replaced_maybe;
  void recheck_replaced();
  void restat_unstatted();
  // Restats a file that arrived at a new name (a rename in the tree) and reports `modify`
  // when its size or mtime moved while the model was not told: written through another
  // name, outside the tree, which no watch here sees. `before`: the model's stat until now.
  void check_arrived(core::NodeId id, const sys::FileStat& before, bool had_stat);
  core::NodeId node_for_wd(int wd) const;

  WatchOptions opt;
  std::shared_ptr<core::PathFilter> filter;
  core::TreeModel model;
  std::optional<backend::InotifyBackend> inotify;
  // Shared with the subscriptions, which may outlive the Watcher.
  std::shared_ptr<core::EventLog> shared_log;
  core::EventLog& log;
  // The reader behind next_batch() (WatchOptions::primary_consumer): it holds the loop.
  std::shared_ptr<core::Reader> primary;
  std::unique_ptr<Subscription> primary_sub;  // the same reader, for Watcher::primary()
  // Which directory each inotify wd stands for, and back (the model knows nothing of wds).
  core::InotifyWatches watches;
  // A directory listed ahead of the events at its new place, while its wd still belongs to
  // the node at its old place (see watch_dir): wd -> the node that takes the wd over when
  // the old one is removed. Checked on use (node ids are reused).
  struct WdHeir {
    core::NodeId node;
    std::uint64_t ino;
  };
  std::unordered_map<int, WdHeir> wd_heirs;
  // -e delete_self on inotify: the kernel's DELETE_SELF of a subdirectory comes before or
  // after its parent's DELETE depending on who still held the inode (measured: rmdir(1)
  // before, a remover holding the directory open after), and inotifywait prints it where it
  // comes. So it is reported from the kernel's event: directories whose DELETE_SELF came
  // first (self_reported), and the paths of watched ones removed before theirs came
  // (gone_self, by wd; reported at IN_IGNORED if lookout's own unwatch beat the kernel).
  struct GoneSelf {
    std::string path;
    core::NodeId root;
  };
  std::unordered_map<int, GoneSelf> gone_self;
  std::unordered_set<core::NodeId> self_reported;
  bool pass_wd_to_heir(int wd, core::NodeId from);
  std::uint32_t dir_mask = 0;
  std::uint32_t file_mask = 0;
  sys::UniqueFd stop_fd;

  struct PendingMove {
    std::uint32_t cookie;
    core::NodeId dir;
    std::string name;
    bool is_dir;
  };
  std::optional<PendingMove> pending_move;
  std::vector<backend::RawEvent> raw;

  // Directories not watched or not listed because their path did not resolve when we tried
  // (an ancestor's rename not yet handled): watched and listed again after every batch.
  std::unordered_set<core::NodeId> blind;
  // Lists again every blind directory, or only those at or below `under` (both backends).
  void retry_blind(core::NodeId under = core::kNoNode);
  // Directories that could not be listed (or watched) for want of file descriptors or
  // memory (EMFILE, ENFILE, ENOMEM): listed again, with a backoff of 50 ms doubling to 2 s,
  // until they can be, and what they hold then is reported as created. Never left blind.
  std::unordered_set<core::NodeId> starved;
  std::int64_t next_starved_retry_ms = 0;
  int starved_backoff_ms = 0;
  bool warned_starved = false;  // one warning per run, naming the limit and the fix
  void note_starved(core::NodeId dir, int err);
  void retry_starved();
  std::unique_ptr<backend::PollHost> poll_host;  // a PollLink to this
  std::unique_ptr<backend::Tracker> poll_tracker;
  std::unique_ptr<backend::Tracker> inotify_link;
  std::unique_ptr<backend::Tracker> fanotify_link;
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
  bool busy = false;  // the last read was large: batch the next one
                      // (docs/kernel-facts.md#inotify-read-batching)
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
