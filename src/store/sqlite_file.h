// What a store checks of a SQLite file before it trusts it: the schema version the file says,
// whether its pages are sound, and which tables it holds. Shared by the ingest journal and
// tail's offsets state, which each decide from these facts whether the file is theirs.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

namespace lookout::store {

struct SqliteFileFacts {
  int user_version = 0;             // PRAGMA user_version: the schema version, 0 when new
  std::vector<std::string> tables;  // names of its tables
  bool has_table(const std::string& name) const;
};

// Reads PRAGMA user_version, runs PRAGMA quick_check and lists the tables into `out`. Empty
// when the file is a sound database; else why not, as "cannot be read (...)" (not a database,
// or unreadable) or "is corrupt (...)" (quick_check's first findings).
std::string examine_sqlite_file(sqlite3* db, SqliteFileFacts& out);

// Puts the file in WAL mode with synchronous = NORMAL: a commit survives the process being
// killed (the kernel has it); a power cut may lose the last commits but never corrupts the
// file. False when SQLite refused (the caller says why with its own error()).
bool use_wal(sqlite3* db);

}  // namespace lookout::store
