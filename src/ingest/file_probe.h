// The file system side of `ingest`, one call each: an entry's stamps, whether anyone still
// writes a file (a read lease), reading a file once for its XXH3-64 hash (and its content
// with --store, its fd with --stdin), which names are taken, listing the box, and moving a
// processed file away. Plain functions over syscalls; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ingest/completion_tracker.h"
#include "lookout/event.h"
#include "store/journal.h"
#include "sys/entry_stamps.h"
#include "sys/file_writers.h"
#include "sys/unique_fd.h"

namespace lookout::ingest {

// lstat: the entry's identity and stamps, nullopt when nothing is there (sys/entry_stamps.h).
using sys::entry_stamps;

// Whether a process has `path` open for writing (sys/file_writers.h).
using sys::writers_of;

struct Snapshot {
  enum class Kind { ok, gone, not_regular, unreadable, changed };
  Kind kind = Kind::gone;
  store::Version version;
  std::string hash;      // 16 hex digits
  std::string what;      // not_regular: "a FIFO", "a directory", ...; unreadable: strerror
  int sys_errno = 0;
  std::string content;   // with keep_content, when size <= max_content
  bool too_big = false;  // keep_content and the file is larger than max_content
  sys::UniqueFd fd;      // open, at offset 0 (keep_fd)
};

// Reads the regular file at `path` once (not following a symlink, never blocking on a FIFO):
// its version, hash and, if asked, content and fd. `changed` when it moved while being read.
Snapshot snapshot(const std::string& path, bool keep_content, std::uint64_t max_content, bool keep_fd);

// "0123456789abcdef": the XXH3-64 of `bytes`.
std::string hash_hex(std::string_view bytes);

// Which names ingest takes: not below an excluded directory (its own), --match if given, and
// with default_ignores no dotfile (nor anything in a dot directory) and no *.tmp, *.part,
// *.partial, *.swp.
class NameRules {
 public:
  NameRules(std::string dir, std::vector<std::string> match, bool default_ignores, std::vector<std::string> excluded);
  bool wanted(const std::string& path) const;
  bool excluded(const std::string& path) const;  // at or below one of lookout's own dirs
  std::string relative(const std::string& path) const;

 private:
  std::string dir_;
  std::vector<std::string> match_;
  bool default_ignores_;
  std::vector<std::string> excluded_;
};

// Every non-directory below `top` (its own entries only unless recursive), skipping the
// excluded directories and, with default ignores, dot directories.
void list_files(const std::string& top, bool recursive, const NameRules& rules,
                const std::function<void(const std::string& path)>& each);

// Moves `path` (below `dir`) to the same relative place below `dest` (on the same
// filesystem), never replacing a file there: "name.1", "name.2", ... when taken. Returns
// where it went.
Result<std::string> move_below(const std::string& dir, const std::string& path, const std::string& dest);

}  // namespace lookout::ingest
