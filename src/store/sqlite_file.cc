#include "store/sqlite_file.h"

#include <algorithm>

namespace lookout::store {

namespace {
std::string text_of(sqlite3_stmt* s, int col) {
  const auto* p = sqlite3_column_text(s, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
           : std::string();
}
}  // namespace

bool SqliteFileFacts::has_table(const std::string& name) const {
  return std::find(tables.begin(), tables.end(), name) != tables.end();
}

std::string examine_sqlite_file(sqlite3* db, SqliteFileFacts& out) {
  // A file that is not a database, or a corrupt one, fails its first read.
  {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
      std::string why = sqlite3_errmsg(db);
      sqlite3_finalize(s);
      return "cannot be read (" + why + ")";
    }
    out.user_version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
  }
  {
    sqlite3_stmt* s = nullptr;
    std::string problems;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &s, nullptr);
    if (rc == SQLITE_OK) {
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        std::string line = text_of(s, 0);
        if (line != "ok" && problems.size() < 200) problems += (problems.empty() ? "" : "; ") + line;
      }
    }
    if (rc != SQLITE_DONE && problems.empty()) problems = sqlite3_errmsg(db);
    sqlite3_finalize(s);
    if (!problems.empty()) return "is corrupt (" + problems + ")";
  }
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) out.tables.push_back(text_of(s, 0));
  sqlite3_finalize(s);
  return {};
}

bool use_wal(sqlite3* db) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, nullptr) != SQLITE_OK) return false;
  const unsigned char* mode = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_text(s, 0) : nullptr;
  const bool wal = mode && std::string(reinterpret_cast<const char*>(mode)) == "wal";
  sqlite3_finalize(s);
  return wal && sqlite3_exec(db, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr) == SQLITE_OK;
}

}  // namespace lookout::store
