#include "store/tail_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <filesystem>

#include "store/sqlite_file.h"

namespace lookout::store {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE tail_files (
  dev       INTEGER NOT NULL,
  ino       INTEGER NOT NULL,
  path      BLOB    NOT NULL,
  offset    INTEGER NOT NULL,
  fp_length INTEGER NOT NULL,
  fp_hash   INTEGER NOT NULL,
  continued INTEGER NOT NULL,
  PRIMARY KEY (dev, ino)
);
CREATE TABLE tail_meta (key TEXT PRIMARY KEY, value BLOB);
PRAGMA user_version = 1;
)sql";

std::string stamp_now() {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  struct tm tm;
  ::gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return stamp;
}

std::string column_bytes(sqlite3_stmt* s, int col) {
  const void* p = sqlite3_column_blob(s, col);
  int n = sqlite3_column_bytes(s, col);
  return std::string(static_cast<const char*>(p ? p : ""), static_cast<std::size_t>(n));
}

bool move_aside(const std::string& path, std::string& moved) {
  moved = path + std::string(".old-") + stamp_now();
  if (::rename(path.c_str(), moved.c_str()) != 0) return false;
  for (const char* side : {"-wal", "-shm"}) {
    std::string from = path + side;
    if (::access(from.c_str(), F_OK) == 0) ::rename(from.c_str(), (moved + side).c_str());
  }
  return true;
}

}  // namespace

Error TailState::error(const char* what) const {
  Error e;
  e.code = ErrorCode::io;
  e.path = path_;
  const int code = db_ ? sqlite3_extended_errcode(db_) : SQLITE_ERROR;
  e.sys_errno = db_ ? sqlite3_system_errno(db_) : 0;
  e.message = std::string("state ") + path_ + std::string(": ") + what + std::string(": ") +
              (db_ ? sqlite3_errmsg(db_) : "cannot open");
  if ((code & 0xff) == SQLITE_FULL) {
    e.sys_errno = ENOSPC;
    e.message += " (free space on its filesystem, or put the state elsewhere)";
  } else if ((code & 0xff) == SQLITE_READONLY) {
    e.code = ErrorCode::permission_denied;
    e.message += " (make the file and its directory writable, or put the state elsewhere)";
  } else if (e.sys_errno != 0) {
    e.message += std::string(" (") + std::strerror(e.sys_errno) + ")";
  }
  return e;
}

Result<std::unique_ptr<TailState>> TailState::open(const std::string& path,
                                                   const std::string& roots, bool reset) {
  namespace fs = std::filesystem;
  std::string moved;
  struct stat st;
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    return Error{ErrorCode::invalid_argument, EISDIR, path,
                 std::string("state ") + path + ": is a directory; name a file"};
  }
  std::string parent = fs::path(path).parent_path().string();
  if (parent.empty()) parent.push_back('.');  // (not `= "."`: GCC 12's -Wrestrict false positive)
  struct stat ps;
  if (::stat(parent.c_str(), &ps) != 0) {
    return error_from_errno(errno, "cannot write the state in", parent, "make the directory first");
  }
  if (::access(parent.c_str(), W_OK) != 0) {
    int err = errno;
    return Error{ErrorCode::permission_denied, err, path,
                 std::string("state ") + path + std::string(": its directory is not writable (") +
                     std::strerror(err) +
                     "; SQLite keeps -wal and -shm files beside it); make it writable, or put the "
                     "state elsewhere"};
  }
  if (exists && ::access(path.c_str(), W_OK) != 0) {
    int err = errno;
    return Error{ErrorCode::permission_denied, err, path,
                 std::string("state ") + path + std::string(": is not writable (") +
                     std::strerror(err) + "); make it writable, or put the state elsewhere"};
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<TailState> s(new TailState(path, db));
  if (rc != SQLITE_OK) return s->error("cannot open");
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  auto set = s->setup(roots);
  if (!set && reset && set.error().code == ErrorCode::invalid_argument) {
    // Unusable and asked to start over: the old file is kept for a human to look at.
    sqlite3_close_v2(s->db_);
    s->db_ = nullptr;
    if (s->lock_fd_ >= 0) ::close(s->lock_fd_);
    s->lock_fd_ = -1;
    if (!move_aside(path, moved))
      return error_from_errno(errno, "cannot move aside the state", path);
    auto again = open(path, roots, false);
    if (again) (*again)->moved_aside_ = moved;
    return again;
  }
  if (!set) return set.error();
  return s;
}

Result<void> TailState::setup(const std::string& roots) {
  auto refuse = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, path_,
                 std::string("state ") + path_ + std::string(": ") + why + " (reset)"};
  };
  SqliteFileFacts facts;
  if (std::string why = examine_sqlite_file(db_, facts); !why.empty()) return refuse(why);
  const int user_version = facts.user_version;
  const bool has_table = facts.has_table("tail_files");
  const bool has_others = std::any_of(facts.tables.begin(), facts.tables.end(), [](const std::string& t) {
    return t != "tail_files" && t != "tail_meta";
  });
  if (has_others || (user_version != 0 && !has_table))
    return refuse("is a SQLite database but not a lookout tail state");
  if (user_version > 1)
    return refuse(std::string("is of a newer lookout (schema ") + std::to_string(user_version) +
                  ")");
  lock_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Error{ErrorCode::io, EWOULDBLOCK, path_,
                 std::string("state ") + path_ +
                     ": another lookout tail is using it (one process per state)"};
  }
  if (!use_wal(db_)) return error("cannot switch to WAL mode");
  if (user_version == 0) {
    fresh_ = true;
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
    if (auto r = exec(kSchema); !r) {
      (void)exec("ROLLBACK");
      return r;
    }
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO tail_meta (key, value) VALUES ('paths', ?)", -1, &s,
                       nullptr);
    sqlite3_bind_blob(s, 1, roots.data(), static_cast<int>(roots.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
      Error e = error("cannot write");
      (void)exec("ROLLBACK");
      return e;
    }
    if (auto r = exec("COMMIT"); !r) return r;
  } else {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT value FROM tail_meta WHERE key = 'paths'", -1, &s, nullptr);
    std::string had = sqlite3_step(s) == SQLITE_ROW ? column_bytes(s, 0) : std::string();
    sqlite3_finalize(s);
    if (had != roots) {
      std::string h = had;
      for (char& c : h)
        if (c == '\n') c = ' ';
      return refuse(std::string("belongs to other PATHs (") + h + ")");
    }
    sqlite3_stmt* c = nullptr;
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM tail_files", -1, &c, nullptr);
    fresh_ = sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int64(c, 0) == 0;
    sqlite3_finalize(c);
  }
  if (sqlite3_prepare_v3(db_,
                         "INSERT OR REPLACE INTO tail_files (dev, ino, path, offset, fp_length, "
                         "fp_hash, continued) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         -1, SQLITE_PREPARE_PERSISTENT, &upsert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(db_, "DELETE FROM tail_files WHERE dev = ? AND ino = ?", -1,
                         SQLITE_PREPARE_PERSISTENT, &remove_, nullptr) != SQLITE_OK) {
    return error("cannot prepare");
  }
  return {};
}

TailState::~TailState() {
  sqlite3_finalize(upsert_);
  sqlite3_finalize(remove_);
  if (db_) sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<void> TailState::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return error("cannot write");
  return {};
}

Result<std::vector<TailFile>> TailState::load() {
  std::vector<TailFile> out;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(
          db_, "SELECT dev, ino, path, offset, fp_length, fp_hash, continued FROM tail_files", -1,
          &s, nullptr) != SQLITE_OK) {
    return error("cannot read");
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    TailFile f;
    f.dev = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    f.ino = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    f.path = column_bytes(s, 2);
    f.offset = static_cast<std::uint64_t>(sqlite3_column_int64(s, 3));
    f.fp_length = static_cast<std::uint64_t>(sqlite3_column_int64(s, 4));
    f.fp_hash = static_cast<std::uint64_t>(sqlite3_column_int64(s, 5));
    f.continued = sqlite3_column_int(s, 6) != 0;
    out.push_back(std::move(f));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return error("cannot read");
  return out;
}

Result<void> TailState::commit(
    const std::vector<TailFile>& changed,
    const std::vector<std::pair<std::uint64_t, std::uint64_t>>& forgotten) {
  if (changed.empty() && forgotten.empty()) return {};
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](const char* what) {
    Error e = error(what);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  };
  for (const TailFile& f : changed) {
    sqlite3_reset(upsert_);
    sqlite3_bind_int64(upsert_, 1, static_cast<sqlite3_int64>(f.dev));
    sqlite3_bind_int64(upsert_, 2, static_cast<sqlite3_int64>(f.ino));
    sqlite3_bind_blob(upsert_, 3, f.path.data(), static_cast<int>(f.path.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(upsert_, 4, static_cast<sqlite3_int64>(f.offset));
    sqlite3_bind_int64(upsert_, 5, static_cast<sqlite3_int64>(f.fp_length));
    sqlite3_bind_int64(upsert_, 6, static_cast<sqlite3_int64>(f.fp_hash));
    sqlite3_bind_int(upsert_, 7, f.continued ? 1 : 0);
    if (sqlite3_step(upsert_) != SQLITE_DONE) return fail("cannot write");
  }
  for (auto [dev, ino] : forgotten) {
    sqlite3_reset(remove_);
    sqlite3_bind_int64(remove_, 1, static_cast<sqlite3_int64>(dev));
    sqlite3_bind_int64(remove_, 2, static_cast<sqlite3_int64>(ino));
    if (sqlite3_step(remove_) != SQLITE_DONE) return fail("cannot write");
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail("cannot commit");
  fresh_ = false;
  return {};
}

void TailState::limit_pages_for_test(int pages) {
  std::string sql = std::string("PRAGMA max_page_count = ") + std::to_string(pages);
  sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
}

}  // namespace lookout::store
