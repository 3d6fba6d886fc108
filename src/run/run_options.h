// RunOptions: everything `lookout run` is asked to do, as plain data, so that the command line
// and (later) the daemon's job configuration fill the same struct. Checked by check_run_options.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "batch/batcher.h"
#include "lookout/watcher.h"

namespace lookout::run {

enum class ActionKind {
  command,  // run COMMAND after each batch, to completion
  restart,  // keep COMMAND running; restart it after each batch
  signal,   // send a signal to a process found by pid, pid file or name
  post,     // HTTP POST the batch as JSON to a URL
};

// Command mode: what a batch that arrives while the command still runs does.
enum class OnBusy { queue, restart, signal, ignore };

struct RunOptions {
  // The engine's options (backend, polling, filters, state); `watch.paths` and
  // `watch.recursive` are filled from `paths` by the runner.
  WatchOptions watch;
  // Files or directories as given. A file is watched through its directory, by name, so an
  // atomic save (rename over it) or a delete and re-create keeps working.
  std::vector<std::string> paths;
  bool recursive = true;
  bool allow_missing = false;  // a missing PATH is watched by name in its directory

  // Filters before debounce: --match globs (on the name or the path relative to its root;
  // none: everything), and editor and VCS noise unless default_ignores is off.
  std::vector<std::string> match;
  bool default_ignores = true;

  ActionKind action = ActionKind::command;
  std::vector<std::string> command;  // argv; with `shell`, one script for /bin/sh -c
  bool shell = false;
  bool arg_files = false;       // append the changed paths as arguments
  std::string stdin_events;     // "": lookout's stdin; "json" or "null": the batch
  OnBusy on_busy = OnBusy::queue;
  int signal = SIGHUP;          // signal mode, and --on-busy signal
  pid_t pid = 0;                // signal mode: one of pid, pid_file, pgrep_exact
  std::string pid_file;
  std::string pgrep_exact;
  int stop_signal = SIGTERM;
  std::int64_t stop_timeout_ms = 10000;

  // HTTP mode: success is `expect_status` (0: any 2xx); a failed try is retried `retries`
  // times, 0.5 s apart doubling; each try waits at most `post_timeout_ms`.
  std::string post_url;
  int expect_status = 0;
  int retries = 5;
  std::int64_t post_timeout_ms = 5000;

  batch::BatchOptions batch;
  // Do nothing for a batch whose every changed file has the content (XXH3-64) it had at the
  // last action (or at start, for files given as PATHs): `touch`, a save of the same bytes.
  bool skip_unchanged = false;
  bool initial = false;  // act once at start, after ready (always in restart mode)
  bool once = false;     // exit after the first action, with its exit status
  bool ready = false;    // print READY on stderr once every watch is live
  std::string log_json;  // a file: one JSON line per action
};

// The first problem as one line naming the option (empty: fine). Pure.
std::string check_run_options(const RunOptions& o);

}  // namespace lookout::run
