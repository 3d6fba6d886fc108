// IngestOptions: everything `lookout ingest` is asked to do, as plain data, so that the command
// line and (later) the daemon's job configuration fill the same struct. Checked by
// check_ingest_options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/watcher.h"

namespace lookout::ingest {

struct IngestOptions {
  // The engine's options (backend, polling, filters); `watch.paths`, `watch.recursive` and
  // the excludes of lookout's own directories are filled in by run().
  WatchOptions watch;
  std::string dir;         // the drop box
  bool recursive = false;  // -r: files in subdirectories too

  // The handler: argv with "{}" replaced by the file's path; with `shell`, the words joined
  // into one /bin/sh script in which "{}" stands for "$1" (the path, never parsed as shell).
  std::vector<std::string> command;
  bool shell = false;
  bool stdin_content = false;  // the file's content on the handler's stdin
  bool store = false;          // no handler: the content goes into the journal
  std::uint64_t store_max = 16u << 20;

  std::vector<std::string> match;  // fnmatch on the name or the path relative to dir
  bool default_ignores = true;     // dotfiles, *.tmp, *.part, *.partial, *.swp

  std::string journal;  // default: dir/.lookout/journal.sqlite
  bool reset_journal = false;

  std::int64_t settle_ms = 500;
  bool settle_moves = false;

  int jobs = 1;
  std::int64_t timeout_ms = 0;  // 0: none
  std::int64_t kill_after_ms = 5000;
  int retries = 0;
  std::int64_t retry_delay_ms = 1000;  // doubles after each failed try
  std::int64_t stop_timeout_ms = 30000;

  std::string done_dir, failed_dir;
  bool delete_done = false;

  bool json = false;   // one line per processed file on `out`
  bool ready = false;  // READY on the log once watching and the files present are queued
};

// The first problem as one line naming the option (empty: fine). Pure.
std::string check_ingest_options(const IngestOptions& o);

// The journal's default place for `dir`.
std::string default_journal(const std::string& dir);

}  // namespace lookout::ingest
