// InotifyTranslator: the inotify tracker. Owns the inotify instance (backend::InotifyBackend),
// which directory each wd stands for (InotifyWatches, wd heirs) and the state between records
// (a MOVED_FROM waiting for its MOVED_TO, DELETE_SELF bookkeeping), and says what each record
// means for the model through core::EngineServices. Lives as long as the engine; live()
// while its instance is open (from start() until auto mode hands the tree to fanotify).
// Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/inotify_backend.h"
#include "backend/tracker.h"
#include "core/engine_services.h"
#include "core/inotify_watches.h"
#include "core/own_dir_reads.h"
#include "core/tree_model.h"
#include "lookout/watcher.h"
#include "sys/fs.h"
#include "sys/inotify_calls.h"
#include "sys/waiter.h"

namespace lookout::core {

class InotifyTranslator final : public backend::Tracker {
 public:
  // Everything given must outlive the translator.
  InotifyTranslator(EngineServices& engine, TreeModel& model, const WatchOptions& opt,
                    sys::Fs& fs, sys::InotifyCalls& calls, sys::Waiter& waiter);

  // Directory reads (open, access, close_nowrite of a directory) are reported when `reads`
  // is set, except those it says are lookout's own listings; null: never reported.
  void set_own_reads(OwnDirReads* reads) { own_reads_ = reads; }
  // Opens the inotify instance (start()); an error says why it could not.
  Result<void> open();
  bool live() const { return backend_.has_value(); }
  // Applies every record queued (auto mode's hand-over to fanotify), then closes the
  // instance: no node holds a wd any more. A MOVED_FROM without its MOVED_TO is not taken
  // for a move out of the tree there: its destination may be a directory not watched yet,
  // and the mark, placed before, has the whole rename. It is left to take_unpaired_moves().
  void drain_all();
  std::vector<UnpairedMove> take_unpaired_moves() { return std::move(unpaired_); }
  void close();
  std::size_t watch_count() const { return backend_ ? backend_->watch_count() : 0; }
  bool watched(NodeId dir) const { return watches_.watched(dir); }
  // After a crawl: the wd table sized to the watches it holds.
  void shrink_tables() { watches_.shrink(); }
  // Adds the watch for `dir` at `path` (a root follows its symlink only with -P unset).
  // REQUIRES: live().
  Result<void> watch_dir(NodeId dir, const std::string& path);
  // For vanished(): true when inotify reports the removed node's DELETE_SELF itself (it came
  // already, or will come on its watch), false when the engine must report it now.
  bool owns_delete_self(NodeId id);

  // backend::Tracker. watch(): in auto mode a mount that inotify cannot see goes to polling.
  Result<void> watch(backend::DirId dir, const std::string& path) override;
  void unwatch(backend::DirId dir) override;
  int fd() const override { return backend_->fd(); }
  Result<std::size_t> drain(std::size_t max) override;
  std::size_t read_ahead_bytes() const { return backend_ ? backend_->read_ahead_bytes() : 0; }
  void read_ahead() override {
    if (backend_) backend_->read_ahead();
  }

 private:
  // Applies `events` in order, each record's hard-link echoes right after it.
  void handle(std::vector<backend::RawEvent>& events);
  void handle_one(const backend::RawEvent& ev);
  void moved(NodeId from_dir, const std::string& from_name, NodeId to_dir,
             const std::string& to_name, bool is_dir_hint);
  void finish_pending_move();
  // Where a record about a directory's name came from: the object the model has at the
  // name, or one it never saw (see moved()).
  enum class Arrival {
    as_recorded,  // the node's own directory moved (or nothing now says otherwise)
    never_left,   // the node's directory is still at the source: another one moved
    replaced,     // the destination holds another object than the node's
    stale_path,   // as recorded, but the destination's path leads elsewhere for now
  };
  Arrival arrival_of(NodeId id, const std::string& from_path, NodeId to_dir,
                     const std::string& to_path);
  // For a file's rename: true when the model's stat for `id` is of the object at the source
  // now (a file made again there, its CREATE still queued) and another is at the
  // destination: the stat was taken after the name changed hands. `at_destination` is then
  // the moved file's.
  bool stat_was_of_successor(NodeId id, const std::string& from_path, const std::string& to_path,
                             sys::FileStat& at_destination);
  // True when `id` is a directory whose path still leads to the inode the model has for it.
  bool still_at_its_path(NodeId id, const std::string& path);
  NodeId node_for_wd(int wd) const;
  bool pass_wd_to_heir(int wd, NodeId from);

  // True when a read of the directory `dir` (open, access, close_nowrite) is reported.
  bool report_dir_read(EventKind kind, NodeId dir);

  EngineServices& engine_;
  TreeModel& model_;
  OwnDirReads* own_reads_ = nullptr;
  const WatchOptions& opt_;
  sys::Fs& fs_;
  sys::InotifyCalls& calls_;
  sys::Waiter& waiter_;  // the pending move's second look at the queue
  std::optional<backend::InotifyBackend> backend_;
  bool keep_unpaired_ = false;  // drain_all(): see there
  std::vector<UnpairedMove> unpaired_;
  std::uint32_t dir_mask_ = 0;
  std::uint32_t file_mask_ = 0;
  std::vector<backend::RawEvent> raw_;
  // Which directory each wd stands for, and back (the model knows nothing of wds).
  InotifyWatches watches_;
  // A directory listed ahead of the events at its new place, while its wd still belongs to
  // the node at its old place (see watch_dir): wd -> the node that takes the wd over when
  // the old one is removed. Checked on use (node ids are reused).
  struct WdHeir {
    NodeId node;
    std::uint64_t ino;
  };
  std::unordered_map<int, WdHeir> wd_heirs_;
  // -e delete_self: the kernel's DELETE_SELF of a subdirectory comes before or after its
  // parent's DELETE depending on who still held the inode (measured: rmdir(1) before, a
  // remover holding the directory open after), and inotifywait prints it where it comes. So
  // it is reported from the kernel's event: directories whose DELETE_SELF came first
  // (self_reported_), and the paths of watched ones removed before theirs came (gone_self_,
  // by wd; reported at IN_IGNORED if lookout's own unwatch beat the kernel).
  struct GoneSelf {
    std::string path;
    NodeId root;
  };
  std::unordered_map<int, GoneSelf> gone_self_;
  std::unordered_set<NodeId> self_reported_;
  // A MOVED_FROM whose MOVED_TO has not been read yet (the pair is adjacent in the queue).
  struct PendingMove {
    std::uint32_t cookie;
    NodeId dir;
    std::string name;
    bool is_dir;
  };
  std::optional<PendingMove> pending_move_;
};

}  // namespace lookout::core
