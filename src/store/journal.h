// Journal: the SQLite file that records what `ingest` did with every version of every file
// (table `ingested`, one row per (path, inode, size, mtime, hash)), and the one place a
// status page or `lookout history` reads it back. WAL mode, so readers in other processes
// never block the writer; each step of a file is its own transaction, in this order:
//   claim (insert, status pending) -> start (running, attempts + 1) -> finish (ok / failed)
// so a crash leaves at worst a `running` row, which the next start retries. Schema version in
// `PRAGMA user_version` (kSchemaVersion; docs/ingest.md lists the columns).
// One Journal per thread; several processes may read the file while one writes it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::store {

inline constexpr int kSchemaVersion = 1;

// What identifies one version of a file.
struct Version {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const Version&) const = default;
};

struct Row {
  std::int64_t id = 0;
  std::string path;
  Version version;
  std::optional<std::string> hash;  // 16 hex digits; none when the file could not be read
  std::string first_seen;           // RFC 3339 UTC, microseconds
  std::optional<std::string> started, finished;
  int attempts = 0;
  std::string status;  // pending, running, ok, failed
  std::optional<int> exit_status;
  std::optional<std::int64_t> duration_ms;
  std::optional<std::string> note, stdout_tail, stderr_tail, moved_to;
  std::optional<std::string> content;  // only when asked for (Query::with_content, row())
};

// What finish() records.
struct Outcome {
  bool ok = false;
  std::optional<int> exit_status;
  std::int64_t duration_ms = 0;
  std::string note;
  std::optional<std::string> stdout_tail, stderr_tail;
  std::string moved_to;
  const std::string* content = nullptr;  // --store: the file's bytes
};

// `lookout history`'s selection; every field optional.
struct Query {
  std::string since;   // first_seen >= this RFC 3339 text
  std::string status;  // exact
  std::int64_t id = 0; // one row
  bool with_content = false;
};

struct OpenOptions {
  bool create = true;      // make the file (and its directory) when missing
  bool read_only = false;  // history: never writes, never creates
  bool reset = false;      // move an unusable (or any) old file aside and start empty
};

class Journal {
 public:
  // Opens (creating or checking the schema). An Error naming the file and the fix when it is
  // not a database, corrupt, of a newer schema, read-only, or taken by another lookout.
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const OpenOptions& options);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  const std::string& path() const { return path_; }
  // Where an old file went with OpenOptions::reset (empty: there was none).
  const std::string& moved_aside() const { return moved_aside_; }

  // A new row, status pending. Returns its id.
  Result<std::int64_t> claim(const std::string& path, const Version& v, const std::optional<std::string>& hash,
                             std::int64_t first_seen_ns);
  // The row's handler starts now: status running, attempts + 1, `note` replaces the note
  // when not empty (e.g. "retried after crash").
  Result<void> start(std::int64_t id, std::int64_t now_ns, const std::string& note = {});
  // Back to pending (waiting for a retry, or interrupted by a stop) with a note.
  Result<void> set_pending(std::int64_t id, const std::string& note, std::optional<int> exit_status = {});
  Result<void> finish(std::int64_t id, std::int64_t now_ns, const Outcome& outcome);
  // True when this version of `path` has a finished row.
  Result<bool> finished(const std::string& path, const Version& v, const std::string& hash);
  // Rows left pending or running (by a stop or a crash).
  Result<std::vector<Row>> unfinished();
  Result<std::vector<Row>> query(const Query& q);

  // Small key/value facts about the journal ("dir": the watched directory).
  Result<void> set_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key);

  // Test seam: caps the file's size in pages (PRAGMA max_page_count), so "disk full" can be
  // had without filling a disk.
  void limit_pages_for_test(int pages);

 private:
  Journal(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  Result<void> setup(const OpenOptions& options);
  Result<void> exec(const char* sql);
  Error error(const char* what) const;
  sqlite3_stmt* prepare(const char* sql);

  std::string path_;
  std::string moved_aside_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  std::vector<std::pair<const char*, sqlite3_stmt*>> stmts_;  // cached by their text's address
};

// "2026-12-06T02:47:17.123456Z" for CLOCK_REALTIME ns.
std::string rfc3339(std::int64_t realtime_ns);

}  // namespace lookout::store
