#include "store/sync_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/sqlite_file.h"

namespace lookout::store {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE sync_targets (target BLOB PRIMARY KEY);
CREATE TABLE sync_pending (target BLOB NOT NULL, path BLOB NOT NULL, PRIMARY KEY (target, path));
PRAGMA user_version = 1;
)sql";

std::string column_bytes(sqlite3_stmt* s, int col) {
  const void* p = sqlite3_column_blob(s, col);
  int n = sqlite3_column_bytes(s, col);
  return std::string(static_cast<const char*>(p ? p : ""), static_cast<std::size_t>(n));
}

void bind(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

}  // namespace

Error SyncState::error(const char* what) const {
  Error e;
  e.code = ErrorCode::io;
  e.path = file_;
  const int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_ERROR;
  e.sys_errno = db_ ? sqlite3_system_errno(db_) : 0;
  e.message = std::string("sync state ") + file_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "cannot open");
  if ((code & 0xff) == SQLITE_FULL) {
    e.sys_errno = ENOSPC;
    e.message += " (free space on its filesystem, or put --state elsewhere)";
  } else if ((code & 0xff) == SQLITE_READONLY) {
    e.code = ErrorCode::permission_denied;
    e.message += " (make the directory writable, or put --state elsewhere)";
  } else if (e.sys_errno != 0) {
    e.message += std::string(" (") + std::strerror(e.sys_errno) + ")";
  }
  return e;
}

Result<std::unique_ptr<SyncState>> SyncState::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return error_from_errno(errno, "cannot make the --state directory", dir);
  if (!S_ISDIR(st.st_mode)) {
    return Error{ErrorCode::not_a_directory, ENOTDIR, dir, "--state " + dir + ": not a directory; name a directory"};
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    const int err = errno;
    return Error{ErrorCode::permission_denied, err, dir,
                 "--state " + dir + ": not writable (" + std::strerror(err) + "); make it writable, or put the state elsewhere"};
  }
  std::unique_ptr<SyncState> s(new SyncState(dir, dir + "/sync.sqlite"));
  const std::string lock = dir + "/lock";
  s->lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd_ < 0) return error_from_errno(errno, "cannot make the lock file", lock);
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error{ErrorCode::io, EWOULDBLOCK, dir,
                 "--state " + dir + ": another lookout sync is using it (one process per state directory)"};
  }
  int rc = sqlite3_open_v2(s->file_.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) return s->error("cannot open");
  sqlite3_extended_result_codes(s->db_, 1);
  sqlite3_busy_timeout(s->db_, 5000);
  if (auto r = s->setup(); !r) return r.error();
  return s;
}

Result<void> SyncState::setup() {
  SqliteFileFacts facts;
  auto refuse = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, file_,
                 "sync state " + file_ + ": " + why + " (move it away, or give another --state directory)"};
  };
  if (std::string why = examine_sqlite_file(db_, facts); !why.empty()) return refuse(why);
  const bool ours = facts.has_table("sync_pending") && facts.has_table("sync_targets");
  if ((facts.user_version != 0 || !facts.tables.empty()) && !ours) {
    return refuse("is a SQLite database but not a lookout sync state");
  }
  if (facts.user_version > 1) return refuse("is of a newer lookout (schema " + std::to_string(facts.user_version) + ")");
  if (!use_wal(db_)) return error("cannot switch to WAL mode");
  if (facts.user_version == 0) {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    if (auto r = exec(kSchema); !r) {
      (void)exec("ROLLBACK");
      return r;
    }
    if (auto r = exec("COMMIT"); !r) return r;
  }
  return {};
}

SyncState::~SyncState() {
  if (db_) sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<void> SyncState::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return error("cannot write");
  return {};
}

Result<std::vector<std::string>> SyncState::known_targets() {
  std::vector<std::string> out;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT target FROM sync_targets", -1, &s, nullptr) != SQLITE_OK) return error("cannot read");
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(column_bytes(s, 0));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot read");
  return out;
}

Result<std::vector<std::string>> SyncState::pending(const std::string& target) {
  std::vector<std::string> out;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT path FROM sync_pending WHERE target = ?", -1, &s, nullptr) != SQLITE_OK) {
    return error("cannot read");
  }
  bind(s, 1, target);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(column_bytes(s, 0));
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot read");
  return out;
}

Result<void> SyncState::add_pending(const std::vector<std::string>& targets, const std::vector<std::string>& paths) {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  sqlite3_stmt* t = nullptr;
  sqlite3_stmt* p = nullptr;
  bool ok = sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO sync_targets (target) VALUES (?)", -1, &t, nullptr) == SQLITE_OK &&
            sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO sync_pending (target, path) VALUES (?, ?)", -1, &p, nullptr) ==
                SQLITE_OK;
  for (const std::string& target : targets) {
    if (!ok) break;
    bind(t, 1, target);
    ok = sqlite3_step(t) == SQLITE_DONE;
    sqlite3_reset(t);
    for (const std::string& path : paths) {
      if (!ok) break;
      bind(p, 1, target);
      bind(p, 2, path);
      ok = sqlite3_step(p) == SQLITE_DONE;
      sqlite3_reset(p);
    }
  }
  sqlite3_finalize(t);
  sqlite3_finalize(p);
  if (!ok) {
    Error e = error("cannot write");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return exec("COMMIT");
}

Result<void> SyncState::confirm(const std::string& target, const std::vector<std::string>& paths) {
  if (paths.empty()) return {};
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  sqlite3_stmt* d = nullptr;
  bool ok = sqlite3_prepare_v2(db_, "DELETE FROM sync_pending WHERE target = ? AND path = ?", -1, &d, nullptr) == SQLITE_OK;
  for (const std::string& path : paths) {
    if (!ok) break;
    bind(d, 1, target);
    bind(d, 2, path);
    ok = sqlite3_step(d) == SQLITE_DONE;
    sqlite3_reset(d);
  }
  sqlite3_finalize(d);
  if (!ok) {
    Error e = error("cannot write");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return exec("COMMIT");
}

}  // namespace lookout::store
