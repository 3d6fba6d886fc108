// Ingester: `lookout ingest`'s logic over one Subscription, without owning the Watcher or the
// process's signals, so the command line and (later) a daemon job drive it alike: wait on
// fds() for wait_ms(), then call step(). Events go to the CompletionTracker; each complete
// file is read once (version + XXH3), checked against the journal (a finished row for this
// version: nothing to do), claimed, started and finished in the journal around its handler
// (-j at a time, with timeout, retries and backoff), then left, moved or deleted. A file
// that changes while its handler runs is taken again afterwards. Owns its child processes;
// one thread (the one that started it: PR_SET_PDEATHSIG is per thread).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ingest/completion_tracker.h"
#include "ingest/file_probe.h"
#include "ingest/ingest_options.h"
#include "lookout/subscription.h"
#include "proc/child.h"
#include "store/journal.h"
#include "sys/clock.h"

namespace lookout::ingest {

struct IngestStats {
  std::uint64_t ok = 0, failed = 0, skipped = 0, retried = 0;
};

class Ingester {
 public:
  // REQUIRES: `journal` and `events` outlive the Ingester; options checked. `log`: lookout's
  // own lines (stderr); `out`: --json lines (stdout).
  Ingester(IngestOptions options, store::Journal& journal, Subscription& events, std::FILE* log,
           std::FILE* out, sys::Clock& clock);
  ~Ingester();

  // Watches are live: lists the box (every file there is queued, to be judged against the
  // journal) and settles what the last run left unfinished.
  void start();
  std::vector<int> fds() const;
  int wait_ms() const;
  // Takes events, hands complete files to handlers, reaps. False once done (stopping and
  // nothing runs, or the watcher ended).
  bool step();
  // A stop was asked for: take no more files; running handlers get stop_timeout to finish.
  void stop();
  // 0, or 1 once the journal could not be written (error said on the log).
  int exit_code() const { return exit_code_; }
  const IngestStats& stats() const { return stats_; }

 private:
  struct Job;
  struct Retry {
    std::string path;
    std::int64_t row = 0;
    std::int64_t first_seen_ns = 0;
    store::Version version;
    std::string hash;
    int attempts = 0;
    std::int64_t due_ms = 0;
  };

  void take_events();
  void scan(const std::string& top);
  bool polled(const std::string& path) const;
  void dispatch();
  void take_file(const std::string& path, std::int64_t first_seen_ns);
  void begin(const std::string& path, std::int64_t row, std::int64_t first_seen_ns, Snapshot snap, int attempts,
             const std::string& note);
  void run_handler(std::unique_ptr<Job> job, Snapshot& snap);
  void store_content(std::unique_ptr<Job> job, Snapshot& snap);
  void on_exit(Job& job);
  void conclude(Job& job, bool ok, std::optional<int> exit_status, const std::string& note);
  void start_retry(Retry r);
  void release(const std::string& path);
  void json_line(const Job& job, const char* status, std::optional<int> exit_status, std::int64_t duration_ms,
                 const std::string& moved_to);
  bool journal_ok(const Result<void>& r);
  void journal_failed(const Error& e);
  void settle_leftovers();
  void say(const std::string& line);
  std::int64_t now_ms() const { return clock_.monotonic_ms(); }
  std::int64_t now_ns() const { return clock_.realtime_ns(); }

  IngestOptions opt_;
  store::Journal& journal_;
  Subscription& events_;
  std::FILE* log_;
  std::FILE* out_;
  sys::Clock& clock_;
  NameRules rules_;
  CompletionTracker tracker_;
  std::vector<std::string> polled_;  // subtrees the engine polls: no close events there
  std::deque<CompletionTracker::Ready> queue_;
  std::unordered_set<std::string> queued_;
  std::unordered_set<std::string> busy_;      // running or waiting for a retry
  std::unordered_set<std::string> deferred_;  // complete again while busy
  std::vector<std::unique_ptr<Job>> jobs_;
  std::vector<Retry> retries_;
  std::unordered_map<std::string, store::Row> leftovers_;  // unfinished rows of an earlier run
  std::unordered_set<std::string> said_;  // paths already reported as not taken
  std::vector<Event> scratch_;
  bool ended_ = false;
  bool stopping_ = false;
  std::int64_t stop_deadline_ms_ = 0;
  int exit_code_ = 0;
  IngestStats stats_;
};

}  // namespace lookout::ingest
