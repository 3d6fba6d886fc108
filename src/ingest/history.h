// history(): `lookout history`: the journal's rows as a table or JSON Lines, filtered by
// time, status and path glob, or one row with its stored content. Reads the journal
// read-only (WAL: while `ingest` writes it). Pure formatting over store::Journal::query.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "lookout/result.h"

namespace lookout::ingest {

struct HistoryOptions {
  std::string journal;
  std::string dir;     // for relative --path globs; default: the journal's own record of DIR
  bool json = false;
  std::string since;   // RFC 3339 lower bound on first_seen (see since_bound)
  std::string status;  // pending, running, ok, failed
  std::string path_glob;
  std::int64_t show_id = 0;  // one row, with its content
};

// "1h", "30m", "90s" back from `now_ns`, or a time ("2026-12-06", "2026-12-06T02:00:00Z",
// "2026-12-06 02:00:00", UTC): the RFC 3339 text to compare first_seen with; nullopt when
// `text` is neither.
std::optional<std::string> since_bound(const std::string& text, std::int64_t now_ns);

// Prints to `out`; an Error naming the journal when it cannot be read or --show's row is not
// there.
Result<int> history(const HistoryOptions& options, std::FILE* out);

}  // namespace lookout::ingest
