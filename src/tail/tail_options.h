// TailOptions: everything `lookout tail` is asked to do, as plain data, so that the command
// line and (later) a daemon job fill the same struct. Checked by check_tail_options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/watcher.h"

namespace lookout::tail {

enum class OutputFormat { text, json };

struct TailOptions {
  // The engine's options (backend, polling, filters); `watch.paths` and `watch.recursive`
  // are filled in by run() from `paths`.
  WatchOptions watch;
  std::vector<std::string> paths;  // files, directories or globs ('**' crosses directories)
  std::vector<std::string> match;  // under a directory: take only names/relative paths matching
  std::vector<std::string> exclude_globs;  // ... and none of these

  OutputFormat format = OutputFormat::text;
  bool with_filename = true;     // text: "PATH:LINE"; false: bare lines
  bool null_terminated = false;  // -0: records end with NUL instead of LF

  bool start_at_end = false;  // files present at the first start (no state yet) begin at their end
  std::string state;  // the offsets' SQLite file; empty: none (every start is a first start)
  bool reset_state =
      false;  // a corrupt state or one of other paths is moved aside instead of refused
  std::int64_t commit_every_ms = 1000;
  std::uint64_t commit_lines = 10000;
  bool once = false;   // read what is new, commit, exit
  bool ready = false;  // READY on the log once every watch is live and every file open

  std::size_t max_open = 512;
  std::int64_t close_idle_ms = 60000;
  std::int64_t deleted_close_ms = 5000;
  std::int64_t partial_flush_ms = 5000;
  std::size_t max_line = 1u << 20;

  int output_fd = 1;
  // Files never read as logs: the state and SQLite's files beside it (run() fills it in).
  std::vector<std::string>
      own_files;  // where records go (blocking writes: the output's pace is ours)
};

// The first problem as one line naming the option (empty: fine). Pure.
std::string check_tail_options(const TailOptions& o);

}  // namespace lookout::tail
