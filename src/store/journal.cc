#include "store/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <filesystem>

#include "sink/json_format.h"
#include "store/sqlite_file.h"

namespace lookout::store {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE ingested (
  id          INTEGER PRIMARY KEY,
  path        TEXT    NOT NULL,
  dev         INTEGER NOT NULL,
  ino         INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  mtime_ns    INTEGER NOT NULL,
  hash        TEXT,
  first_seen  TEXT    NOT NULL,
  started     TEXT,
  finished    TEXT,
  attempts    INTEGER NOT NULL DEFAULT 0,
  status      TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'ok', 'failed')),
  exit_status INTEGER,
  duration_ms INTEGER,
  note        TEXT,
  stdout_tail TEXT,
  stderr_tail TEXT,
  moved_to    TEXT,
  content     BLOB
);
CREATE INDEX ingested_version ON ingested (path, ino, size, mtime_ns);
CREATE INDEX ingested_unfinished ON ingested (status) WHERE finished IS NULL;
CREATE INDEX ingested_first_seen ON ingested (first_seen);
CREATE TABLE lookout_meta (key TEXT PRIMARY KEY, value TEXT);
PRAGMA user_version = 1;
)sql";

constexpr const char* kColumns =
    "id, path, dev, ino, size, mtime_ns, hash, first_seen, started, finished, attempts, status, "
    "exit_status, duration_ms, note, stdout_tail, stderr_tail, moved_to";

std::optional<std::string> text_at(sqlite3_stmt* s, int col) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
  const void* p = sqlite3_column_blob(s, col);
  int n = sqlite3_column_bytes(s, col);
  return std::string(static_cast<const char*>(p ? p : ""), static_cast<std::size_t>(n));
}

void bind_text(sqlite3_stmt* s, int i, const std::optional<std::string>& v) {
  if (v) {
    sqlite3_bind_text(s, i, v->data(), static_cast<int>(v->size()), SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_null(s, i);
  }
}

// Parameters 1-4: path, ino, size, mtime_ns (what identifies a version, with the hash).
void bind_version(sqlite3_stmt* s, const std::string& path, const Version& v) {
  sqlite3_bind_text(s, 1, path.data(), static_cast<int>(path.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(v.ino));
  sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(v.size));
  sqlite3_bind_int64(s, 4, v.mtime_ns);
}

Row row_from(sqlite3_stmt* s, bool with_content) {
  Row r;
  r.id = sqlite3_column_int64(s, 0);
  r.path = text_at(s, 1).value_or("");
  r.version.dev = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  r.version.ino = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
  r.version.size = static_cast<std::uint64_t>(sqlite3_column_int64(s, 4));
  r.version.mtime_ns = sqlite3_column_int64(s, 5);
  r.hash = text_at(s, 6);
  r.first_seen = text_at(s, 7).value_or("");
  r.started = text_at(s, 8);
  r.finished = text_at(s, 9);
  r.attempts = sqlite3_column_int(s, 10);
  r.status = text_at(s, 11).value_or("");
  if (sqlite3_column_type(s, 12) != SQLITE_NULL) r.exit_status = sqlite3_column_int(s, 12);
  if (sqlite3_column_type(s, 13) != SQLITE_NULL) r.duration_ms = sqlite3_column_int64(s, 13);
  r.note = text_at(s, 14);
  r.stdout_tail = text_at(s, 15);
  r.stderr_tail = text_at(s, 16);
  r.moved_to = text_at(s, 17);
  if (with_content) r.content = text_at(s, 18);
  return r;
}

// Resets a cached statement when the call using it returns, whatever the path.
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

std::string rfc3339(std::int64_t realtime_ns) {
  std::string out;
  sink::append_rfc3339(realtime_ns, out);
  return out;
}

Error Journal::error(const char* what) const {
  Error e;
  e.code = ErrorCode::io;
  e.path = path_;
  int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_ERROR;
  e.sys_errno = db_ ? sqlite3_system_errno(db_) : 0;
  e.message = std::string("journal ") + path_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "cannot open");
  if (e.sys_errno != 0 && (code & 0xff) != SQLITE_FULL) e.message += std::string(" (") + std::strerror(e.sys_errno) + ")";
  if ((code & 0xff) == SQLITE_FULL) {
    e.sys_errno = ENOSPC;
    e.message += " (free space on its filesystem, or put the journal elsewhere)";
  } else if ((code & 0xff) == SQLITE_READONLY) {
    e.code = ErrorCode::permission_denied;
    e.message += " (make the file and its directory writable, or put the journal elsewhere)";
  }
  return e;
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, const OpenOptions& o) {
  namespace fs = std::filesystem;
  std::string moved;
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && (o.read_only || !o.create)) {
    return error_from_errno(errno, "journal", path, "lookout ingest writes it; name the journal file");
  }
  if (exists && S_ISDIR(st.st_mode)) {
    return Error{ErrorCode::invalid_argument, EISDIR, path, "journal " + path + ": is a directory; name a file"};
  }
  if (exists && o.reset && !o.read_only) {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    struct tm tm;
    ::gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    moved = path + ".old-" + stamp;
    if (::rename(path.c_str(), moved.c_str()) != 0) return error_from_errno(errno, "cannot move aside the journal", path);
    for (const char* side : {"-wal", "-shm"}) {
      std::string from = path + side;
      if (::access(from.c_str(), F_OK) == 0) ::rename(from.c_str(), (moved + side).c_str());
    }
    exists = false;
  }
  if (!o.read_only) {
    std::error_code ec;
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) return error_from_errno(ec.value(), "cannot make the journal's directory", parent.string());
  }
  std::string parent = fs::path(path).parent_path().string();
  if (parent.empty()) parent = ".";
  if (!o.read_only && exists && ::access(path.c_str(), W_OK) != 0) {
    int err = errno;
    return Error{ErrorCode::permission_denied, err, path,
                 "journal " + path + ": is read-only (" + std::strerror(err) +
                     "); make it writable, or put the journal elsewhere"};
  }
  if (!o.read_only && ::access(parent.c_str(), W_OK) != 0) {
    int err = errno;
    return Error{ErrorCode::permission_denied, err, path,
                 "journal " + path + ": its directory is read-only (" + std::strerror(err) +
                     "; SQLite keeps -wal and -shm files beside it); make it writable, or put the journal elsewhere"};
  }
  // A reader on a read-only directory cannot make the -shm file WAL readers share: read the
  // file as it is (nobody can be writing it there).
  std::string name = path;
  int flags = o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (o.read_only && ::access(parent.c_str(), W_OK) != 0 && ::access((path + "-shm").c_str(), F_OK) != 0) {
    name = "file:";
    for (char c : fs::absolute(path).string()) {
      if (c == '?' || c == '#' || c == '%') {
        char b[4];
        std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c));
        name += b;
      } else {
        name.push_back(c);
      }
    }
    name += "?immutable=1";
    flags |= SQLITE_OPEN_URI;
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<Journal> j(new Journal(path, db));
  j->moved_aside_ = moved;
  if (rc != SQLITE_OK) {
    Error e = j->error("cannot open");
    if (e.sys_errno == 0) e.sys_errno = EIO;
    return e;
  }
  sqlite3_extended_result_codes(db, 1);
  if (auto s = j->setup(o); !s) return s.error();
  return j;
}

Result<void> Journal::setup(const OpenOptions& o) {
  sqlite3_busy_timeout(db_, 5000);
  const std::string unusable = o.read_only ? "" : "; move it away or start over with an empty journal (reset)";
  auto refuse = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, path_, "journal " + path_ + ": " + why + unusable};
  };
  SqliteFileFacts facts;
  if (std::string why = examine_sqlite_file(db_, facts); !why.empty()) return refuse(why);
  const int user_version = facts.user_version;
  const bool has_table = facts.has_table("ingested");
  const bool has_others = std::any_of(facts.tables.begin(), facts.tables.end(), [](const std::string& t) {
    return t != "ingested" && t != "lookout_meta";
  });
  if (user_version > kSchemaVersion) {
    return refuse("has schema version " + std::to_string(user_version) + ", newer than this lookout's (" +
                  std::to_string(kSchemaVersion) + "); use a newer lookout");
  }
  if (user_version == 0 && (has_table || has_others)) return refuse("is a SQLite database but not a lookout journal");
  if (user_version == kSchemaVersion && !has_table) return refuse("has no table `ingested`");
  if (o.read_only) {
    if (user_version == 0) return refuse("is empty: no file was ingested with it yet");
    return {};
  }
  if (sqlite3_db_readonly(db_, "main") == 1) {
    return Error{ErrorCode::permission_denied, EROFS, path_,
                 "journal " + path_ + ": is read-only (make the file and its directory writable, or put the journal elsewhere)"};
  }
  // One writer: a second `lookout ingest` on the same journal would claim the same files.
  lock_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error{ErrorCode::io, EWOULDBLOCK, path_,
                 "journal " + path_ + ": another lookout ingest is using it (one process per journal)"};
  }
  if (!use_wal(db_)) return error("cannot switch to WAL mode");
  if (user_version == 0) {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    if (auto r = exec(kSchema); !r) {
      (void)exec("ROLLBACK");
      return r;
    }
    if (auto r = exec("COMMIT"); !r) return r;
  }
  return {};
}

Journal::~Journal() {
  for (auto& [sql, s] : stmts_) sqlite3_finalize(s);
  if (db_) sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<void> Journal::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    sqlite3_free(msg);
    return error("cannot write");
  }
  return {};
}

sqlite3_stmt* Journal::prepare(const char* sql) {
  for (auto& [text, s] : stmts_) {
    if (text == sql) return s;
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) return nullptr;
  stmts_.emplace_back(sql, s);
  return s;
}

Result<std::int64_t> Journal::claim(const std::string& path, const Version& v, const std::optional<std::string>& hash,
                                    std::int64_t first_seen_ns) {
  static constexpr const char* kSql =
      "INSERT INTO ingested (path, ino, size, mtime_ns, dev, hash, first_seen, status) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')";
  sqlite3_stmt* s = prepare(kSql);
  if (!s) return error("cannot claim");
  Reset reset{s};
  bind_version(s, path, v);
  sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(v.dev));
  bind_text(s, 6, hash);
  bind_text(s, 7, rfc3339(first_seen_ns));
  if (sqlite3_step(s) != SQLITE_DONE) return error("cannot claim");
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<void> Journal::start(std::int64_t id, std::int64_t now_ns, const std::string& note) {
  static constexpr const char* kSql =
      "UPDATE ingested SET status = 'running', started = ?, attempts = attempts + 1, "
      "note = coalesce(?, note) WHERE id = ?";
  sqlite3_stmt* s = prepare(kSql);
  if (!s) return error("cannot record a start");
  Reset reset{s};
  bind_text(s, 1, rfc3339(now_ns));
  bind_text(s, 2, note.empty() ? std::nullopt : std::optional<std::string>(note));
  sqlite3_bind_int64(s, 3, id);
  if (sqlite3_step(s) != SQLITE_DONE) return error("cannot record a start");
  return {};
}

Result<void> Journal::set_pending(std::int64_t id, const std::string& note, std::optional<int> exit_status) {
  static constexpr const char* kSql =
      "UPDATE ingested SET status = 'pending', note = ?, exit_status = coalesce(?, exit_status) WHERE id = ?";
  sqlite3_stmt* s = prepare(kSql);
  if (!s) return error("cannot record a retry");
  Reset reset{s};
  bind_text(s, 1, note);
  if (exit_status) sqlite3_bind_int(s, 2, *exit_status);
  sqlite3_bind_int64(s, 3, id);
  if (sqlite3_step(s) != SQLITE_DONE) return error("cannot record a retry");
  return {};
}

Result<void> Journal::finish(std::int64_t id, std::int64_t now_ns, const Outcome& o) {
  static constexpr const char* kSql =
      "UPDATE ingested SET status = ?, finished = ?, exit_status = ?, duration_ms = ?, "
      "note = coalesce(?, note), stdout_tail = ?, stderr_tail = ?, moved_to = ?, content = ? WHERE id = ?";
  sqlite3_stmt* s = prepare(kSql);
  if (!s) return error("cannot record a finish");
  Reset reset{s};
  bind_text(s, 1, std::string(o.ok ? "ok" : "failed"));
  bind_text(s, 2, rfc3339(now_ns));
  if (o.exit_status) sqlite3_bind_int(s, 3, *o.exit_status);
  sqlite3_bind_int64(s, 4, o.duration_ms);
  bind_text(s, 5, o.note.empty() ? std::nullopt : std::optional<std::string>(o.note));
  bind_text(s, 6, o.stdout_tail);
  bind_text(s, 7, o.stderr_tail);
  bind_text(s, 8, o.moved_to.empty() ? std::nullopt : std::optional<std::string>(o.moved_to));
  if (o.content) {
    sqlite3_bind_blob64(s, 9, o.content->data(), o.content->size(), SQLITE_STATIC);
  } else {
    sqlite3_bind_null(s, 9);
  }
  sqlite3_bind_int64(s, 10, id);
  if (sqlite3_step(s) != SQLITE_DONE) return error("cannot record a finish");
  return {};
}

Result<bool> Journal::finished(const std::string& path, const Version& v, const std::string& hash) {
  static constexpr const char* kSql =
      "SELECT 1 FROM ingested WHERE path = ? AND ino = ? AND size = ? AND mtime_ns = ? AND hash = ? "
      "AND finished IS NOT NULL LIMIT 1";
  sqlite3_stmt* s = prepare(kSql);
  if (!s) return error("cannot read");
  Reset reset{s};
  bind_version(s, path, v);
  sqlite3_bind_text(s, 5, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error("cannot read");
}

Result<std::vector<Row>> Journal::unfinished() {
  std::string sql = std::string("SELECT ") + kColumns + " FROM ingested WHERE finished IS NULL ORDER BY id";
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return error("cannot read");
  std::vector<Row> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(row_from(s, false));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot read");
  return out;
}

Result<std::vector<Row>> Journal::query(const Query& q) {
  std::string sql = std::string("SELECT ") + kColumns + (q.with_content ? ", content" : "") + " FROM ingested WHERE 1";
  if (q.id) sql += " AND id = ?1";
  if (!q.since.empty()) sql += " AND first_seen >= ?2";
  if (!q.status.empty()) sql += " AND status = ?3";
  sql += " ORDER BY id";
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return error("cannot read");
  if (q.id) sqlite3_bind_int64(s, 1, q.id);
  if (!q.since.empty()) bind_text(s, 2, q.since);
  if (!q.status.empty()) bind_text(s, 3, q.status);
  std::vector<Row> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(row_from(s, q.with_content));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot read");
  return out;
}

Result<void> Journal::set_meta(const std::string& key, const std::string& value) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO lookout_meta (key, value) VALUES (?, ?)", -1, &s, nullptr) !=
      SQLITE_OK) {
    return error("cannot write");
  }
  bind_text(s, 1, key);
  bind_text(s, 2, value);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot write");
  return {};
}

std::optional<std::string> Journal::meta(const std::string& key) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM lookout_meta WHERE key = ?", -1, &s, nullptr) != SQLITE_OK) {
    return std::nullopt;
  }
  bind_text(s, 1, key);
  std::optional<std::string> v;
  if (sqlite3_step(s) == SQLITE_ROW) v = text_at(s, 0);
  sqlite3_finalize(s);
  return v;
}

void Journal::limit_pages_for_test(int pages) {
  std::string sql = "PRAGMA max_page_count = " + std::to_string(pages);
  sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
}

}  // namespace lookout::store
