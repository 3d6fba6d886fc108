// FanotifyTranslator: the fanotify tracker. Owns the fanotify group (backend::Fanotify: its
// filesystem marks), the directory handle keys and the nodes they stand for, the marked
// mount points and the mount table's notice, and the bookkeeping of the crawl that fills the
// model in after ready (which directories are in step with the consumer, what it was told of
// renames, which listings to distrust after an overflow). It says what each record means for
// the model through core::EngineServices (fanotify_translator.cc, fanotify_renames.cc).
// Lives as long as the engine; live() once a group is open. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/fanotify_backend.h"
#include "backend/tracker.h"
#include "core/engine_services.h"
#include "core/handle_index.h"
#include "core/tree_model.h"
#include "lookout/watcher.h"
#include "sys/fs.h"

namespace lookout::core {

class FanotifyTranslator final : public backend::Tracker {
 public:
  // Opens a fanotify group for marks asking for `mask` (see core/watcher_seams.h).
  using Opener = std::function<Result<std::unique_ptr<backend::Fanotify>>(std::uint64_t mask)>;
  // Everything given must outlive the translator. `opener` empty: FanotifyBackend::open.
  FanotifyTranslator(EngineServices& engine, TreeModel& model, const WatchOptions& opt,
                     sys::Fs& fs, Opener opener);

  // A group for the marks this engine needs (fanotify_mask()), not kept.
  Result<std::unique_ptr<backend::Fanotify>> open_group() const;
  // --backend fanotify: opens the group (start()).
  Result<void> open();
  // Auto mode: takes over `group`, whose mark on `root`'s filesystem is live; the rest of
  // the crawl runs after ready. key_existing() then keys the directories listed so far,
  // those not in `unlisted` being in step with the consumer's view at ready.
  void adopt(std::unique_ptr<backend::Fanotify> group, NodeId root);
  // This process: its own writes are dropped with WatchOptions::drop_own_writes.
  void set_self_pid(int pid) { self_pid_ = pid; }
  void key_existing(NodeId root, const std::unordered_set<NodeId>& unlisted);
  bool live() const { return group_ != nullptr; }
  std::size_t mark_count() const { return group_ ? group_->mark_count() : 0; }
  std::uint64_t fanotify_mask() const;

  // --backend fanotify: marks a root's filesystem or fails with the reason.
  Result<void> mark_root(NodeId root);
  // Marks, before ready, every mount below `root` the mount table lists. False when one
  // cannot be marked (it will be polled): then the crawl must finish before ready, since
  // only a listing made before ready can be the baseline of what polling reports.
  bool mark_submounts(NodeId root);

  // The crawl. Its records may still be queued after it ends: until a read after the crawl
  // reaches the queue's end the model is partial (may lack what records describe).
  void crawl_continues() { crawl_tail_ = true; }
  bool model_partial() const { return engine_.crawling() || crawl_tail_; }
  // While the model is partial: whether the consumer has `dir`'s entries as the model does.
  bool in_step(NodeId dir) const { return dir != kNoNode && in_step_.count(dir) != 0; }
  // Scan hooks: `dir` was listed as `fd` (its key, its subdirectories' keys; `report`: its
  // entries were reported), or could not be listed.
  void listed(NodeId dir, int fd, bool report);
  void unlisted(NodeId dir);
  // Before an overflow's rescan, the crawl finished: every directory listed after ready
  // with entries already changed (or not listed) is reported removed and dropped from the
  // model, for the rescan's diff to report it created as it is (see watcher.cc).
  void drop_suspects(const std::function<void()>& before_first_report);
  // A rescan puts every object where it is: renames followed or told are forgotten.
  void forget_renames();
  // Auto mode's hand-over: renames the watches' queue held only half of (given before
  // key_existing, which keys none of their nodes). Once a read reaches the mark's queue end,
  // each node its rename record did not move, and whose name holds it no more, went out of
  // the tree (reported moved out, as inotify would have).
  void expect_unpaired_moves(std::vector<UnpairedMove> moves) { unpaired_ = std::move(moves); }
  // Whether `key` is known (to name a node, or to be outside every root). For tests.
  bool knows_key(const std::string& key) const { return keys_.holder(key).has_value(); }

  // backend::Tracker. watch(): a mount boundary gets its own mark, or polling.
  Result<void> watch(backend::DirId dir, const std::string& path) override;
  void unwatch(backend::DirId dir) override;
  int fd() const override { return group_->fd(); }
  Result<std::size_t> drain(std::size_t max) override;
  void after_read(bool caught_up) override;
  // fanotify has no IN_UNMOUNT: the mount table's poll notification (POLLPRI on
  // /proc/self/mountinfo) makes the loop check that each marked mount point is still there.
  int notice_fd() override;
  void on_notice() override { check_mount_points(); }

 private:
  struct Place {
    bool known = false;       // false: outside every root, or gone (no path)
    NodeId dir = kNoNode;     // the directory's node, when the model has it
    std::string path;         // its path (from the model when it has it)
  };
  // Renames not applied because the object was already back (see renamed): where the
  // records still to come say it is -> where the model keeps it.
  struct Name {
    NodeId dir;
    std::string name;
    bool operator==(const Name& o) const { return dir == o.dir && name == o.name; }
  };
  struct NameHash {
    std::size_t operator()(const Name& n) const {
      return std::hash<std::string>()(n.name) ^
             (std::hash<NodeId>()(n.dir) * 0x9e3779b97f4a7c15ull);
    }
  };
  struct Home {
    Name name;
    std::string key;  // the object's handle, when the record had one
  };
  // Where the consumer has an object: its directory's key and its name.
  struct Spot {
    std::string dir_key;
    std::string name;
    bool operator==(const Spot& o) const { return dir_key == o.dir_key && name == o.name; }
  };

  static std::string child_path(const std::string& dir, const std::string& name) {
    return dir == "/" ? "/" + name : dir + "/" + name;
  }
  // fanotify_translator.cc
  Place locate(const std::string& key);
  void remember_outside(const std::string& key);  // bounded negative cache
  // Keys `dir` by its handle. `listed`: the key came from a listing or a path as it is now,
  // which may be ahead of the records still queued (see map_key).
  void map_key(NodeId dir, const std::string& key, bool listed = false);
  void forget_key(NodeId id);
  NodeId root_for(const std::string& path) const;
  // True when `path` (a directory under `root`) or a directory between them is excluded.
  bool excluded_below(NodeId root, const std::string& path) const;
  void handle(std::vector<backend::FanEvent>& events);
  void handle_one(const backend::FanEvent& ev);
  // `key`: the created directory's own key from the record, when the kernel gave one.
  void created(const Place& at, const std::string& name, bool is_dir, const char* reason,
               const std::string& key);
  void deleted(const Place& at, const std::string& name, bool is_dir, const char* reason);
  void changed(EventKind kind, const Place& at, const std::string& name, bool is_dir);
  NodeId node_at(const Place& at, const std::string& name, const std::string& path) const;
  // The directory with this key is in the model, in a directory whose entries the consumer
  // has as the model does: it was reported (or is in its view at ready) where it is now.
  bool reported_elsewhere(const std::string& key) const;
  // The node is the object `st` describes (inode, device, type and birth when both have one).
  bool same_object(NodeId id, const sys::FileStat& st) const;
  // A mount met inside a fanotify-watched tree: its own mark, or polling.
  void enter_submount(NodeId dir, const std::string& path);
  void check_mount_points();
  // fanotify_renames.cc
  void renamed(const backend::FanEvent& ev);
  // A rename whose object the model has at its source (and whose destination it has).
  void rename_in_model(const backend::FanEvent& ev, NodeId id, const Place& from, const Place& to);
  // A rename the model cannot check against its own entries (the crawl is under way).
  void rename_unlisted(const backend::FanEvent& ev, NodeId id, const Place& from, const Place& to);
  // The rename in `ev` is undone: its object is back at its source and not at its
  // destination. Judged by handle where the record has one, else by the model's paths.
  bool rename_undone(const backend::FanEvent& ev, NodeId id, const std::string& from_path,
                     const std::string& to_path) const;
  // Where the consumer was told the object with this handle is, as a path ("" if not told).
  std::string told_path(const std::string& object);
  // Remembers, while the model is partial, that the consumer now has the object at `spot`.
  void tell(const std::string& object, Spot spot);

  EngineServices& engine_;
  TreeModel& model_;
  const WatchOptions& opt_;
  sys::Fs& fs_;
  Opener opener_;
  std::unique_ptr<backend::Fanotify> group_;
  int self_pid_ = 0;
  std::vector<backend::FanEvent> raw_;
  // Directory key -> the node holding it (kNoNode: known to be outside every root, the
  // bounded negative cache), and each node's key. The fsid and handle type are stored once
  // per filesystem.
  HandleIndex keys_{backend::kKeyPrefixBytes};
  // Keys claimed by a second node for the same directory (see map_key): the nodes that
  // inherit them, in turn, when the node holding one is removed (forget_key()).
  std::unordered_map<std::string, std::vector<NodeId>> shadow_;
  // Renames undone (see fanotify_renames.cc): where records say the object is -> its home.
  std::unordered_map<Name, Home, NameHash> undone_;
  // While the model is partial: where the consumer has each object renamed since ready, by
  // its handle. The model alone cannot say: the crawl lists a directory as it is when it
  // gets there, and merged records are out of step (see fanotify_renames.cc).
  std::unordered_map<std::string, Spot> told_;
  // While the model is partial: directories whose entries the model has as the consumer
  // does, in event order. Those listed before ready (the consumer's view at ready is the
  // listing; records of changes made before it are absorbed) and those created or moved in
  // after ready (the consumer knows their entries only from what was reported). A name
  // missing from one is unknown to the consumer; in a directory the crawl lists after
  // ready, the consumer may know it from its view at ready.
  std::unordered_set<NodeId> in_step_;
  // Directories the crawl listed after ready with entries already changed (or could not
  // list): kept until the events of the crawl's time are known to be complete.
  std::unordered_set<NodeId> suspects_;
  bool crawl_tail_ = false;  // see crawl_continues()
  std::vector<UnpairedMove> unpaired_;  // see expect_unpaired_moves()
  void settle_unpaired_moves();
  std::unordered_set<NodeId> mount_points_;
  std::optional<sys::FsFd> mountinfo_fd_;  // from fs.open_mount_notice()
};

}  // namespace lookout::core
