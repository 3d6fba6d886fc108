// CompletionTracker: decides when a file dropped into the box is complete, one path at a time
// (unlike batch::Batcher, which gathers a batch; ingest takes each file on its own). A file is
// complete when it was closed after writing and then stayed unchanged for `settle` (a writer
// that reopens it within that time keeps it waiting), or at once when renamed or moved in
// (unless settle_moves). A file written but never seen closed (a polled filesystem, a hard
// link, a file listed inside a new directory) is complete when its size and mtime stayed put
// for `settle` and nobody holds it open for writing; when that cannot be known, once quiet
// for `open_quiet`. Pure: time, stat and the writer probe are given (fakes in tests). One thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lookout/event.h"
#include "sys/file_writers.h"

namespace lookout::ingest {

struct CompletionOptions {
  std::int64_t settle_ms = 500;
  bool settle_moves = false;
  std::int64_t open_quiet_ms = 5000;
};

// Whether some process has the file open for writing (sys/file_writers.h).
using Writers = sys::Writers;

class CompletionTracker {
 public:
  using StatFn = std::function<std::optional<EntryStat>(const std::string& path)>;
  using WritersFn = std::function<Writers(const std::string& path)>;

  CompletionTracker(CompletionOptions options, StatFn stat, WritersFn writers);

  // One event for a file (directories and non-changes are ignored; the caller scans a
  // directory that appeared or a rescan itself). `polled`: no close events come for it.
  void add(const Event& e, bool polled, std::int64_t now_ms, std::int64_t now_ns);
  // A file found by listing (at start, after a rescan, in a new directory): complete when
  // quiet for settle.
  void found(const std::string& path, std::int64_t now_ms, std::int64_t now_ns);
  // The file changed while being read: wait for it to settle again.
  void changed(const std::string& path, std::int64_t now_ms, std::int64_t now_ns);
  // Drops everything at or below `path` (removed, moved out).
  void forget(const std::string& path);

  // When take() should be called next (INT64_MAX: nothing is waiting).
  std::int64_t next_due_ms() const;
  struct Ready {
    std::string path;
    std::int64_t first_seen_ns = 0;
  };
  // The files complete at `now_ms`, in the order they became complete.
  std::vector<Ready> take(std::int64_t now_ms);

  std::size_t waiting() const { return entries_.size(); }

 private:
  enum class State { writing, closed, complete };
  struct Entry {
    State state = State::writing;
    bool polled = false;
    std::int64_t due_ms = 0;
    std::int64_t quiet_since_ms = 0;  // stamps unchanged since
    std::int64_t first_seen_ns = 0;
    std::optional<EntryStat> stamps;
  };
  Entry& entry(const std::string& path, std::int64_t now_ns);
  void set(const std::string& path, Entry& e, State s, std::int64_t now_ms, std::optional<EntryStat> stamps);
  void schedule(const std::string& path, Entry& e, std::int64_t due_ms);
  void unschedule(const std::string& path, Entry& e);
  void judge(const std::string& path, Entry& e, std::int64_t now_ms);

  CompletionOptions opt_;
  StatFn stat_;
  WritersFn writers_;
  std::unordered_map<std::string, Entry> entries_;
  std::set<std::pair<std::int64_t, std::string>> due_;  // writing and closed entries
  std::deque<std::string> ready_;
};

}  // namespace lookout::ingest
