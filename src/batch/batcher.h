// Batcher: turns a stream of change events into batches to act on, as `run` (and later
// `ingest` and `sync`) need them. A file counts once it is complete: closed after writing,
// renamed into place, deleted, or quiet (same size and mtime) for `settle`; a file still
// being written is never in a batch. A batch is due `debounce` after its last complete
// change, but never later than `max_wait` after its first, so a stream of changes cannot
// postpone the action forever. A batch with a rescan in it also waits for the files it
// re-found to settle: an overflow is one action. Pure: the caller gives the time and a stat function (a seam;
// tests pass a fake). One thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lookout/event.h"

namespace lookout::batch {

struct BatchOptions {
  std::int64_t debounce_ms = 100;
  std::int64_t max_wait_ms = 2000;
  std::int64_t settle_ms = 200;
};

class Batcher {
 public:
  static constexpr std::int64_t kNever = INT64_MAX;
  // The size and mtime at `path` now (lstat), or nullopt when there is nothing there.
  using StatFn = std::function<std::optional<EntryStat>(const std::string& path)>;

  explicit Batcher(BatchOptions options, StatFn stat);

  // Takes one event (kinds that are no change, like `backend` or `open`, are ignored).
  void add(const Event& e, std::int64_t now_ms);
  // When take_due() should next be called: a batch's deadline or a writer's settle time.
  std::int64_t next_due_ms() const;
  // The complete changes, if a batch is due at `now_ms` (first-seen order, one record per
  // path and kind); empty otherwise. Files quiet for `settle` are judged complete here.
  std::vector<Event> take_due(std::int64_t now_ms);
  // Every change waiting, complete or not, as a batch now (stopping: nothing is dropped).
  std::vector<Event> take_all();

  std::size_t complete() const { return complete_count_; }
  std::size_t writing() const { return entries_.size() - complete_count_; }

 private:
  struct Entry {
    std::vector<Event> events;  // what happened to the path, in order, one per kind
    std::uint64_t first_order = 0;
    bool complete = false;
    std::int64_t last_ms = 0;         // the last event's time (settle counts from here)
    std::optional<EntryStat> stamps;  // size and mtime when last looked at
  };
  void note(const Event& e, const std::string& path, bool complete, std::int64_t now_ms);
  void settle(std::int64_t now_ms);
  std::vector<Event> take_complete();

  BatchOptions opt_;
  StatFn stat_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t complete_count_ = 0;
  std::uint64_t order_ = 0;
  std::int64_t first_complete_ms_ = kNever;  // the batch's first complete change
  std::int64_t last_complete_ms_ = kNever;
  // The batch holds a rescan: what it re-finds (new files are `create`, so writing until
  // they settle) belongs to the same action, so the batch waits for them, up to max_wait.
  bool has_rescan_ = false;
};

}  // namespace lookout::batch
