// EngineFlags: the engine's command-line flags (backend, polling, state, checksum,
// reconciliation, filters, queue bound), defined once so that every subcommand that runs a
// Watcher takes them with the same names, help, checks and messages. A subcommand adds its
// own flags next to these. Plain data and free functions; not thread-safe (parse time only).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/watcher.h"

namespace CLI {
class App;
}

namespace lookout::cmd {

struct EngineFlags {
  std::string backend = "auto";  // auto, inotify, fanotify or poll (checked by CLI11)
  bool poll = false;             // --poll: shorthand for --backend poll
  double poll_min = 0.25, poll_max = 2.0, poll_full_every = 0;  // seconds; 0: auto
  bool poll_full = false;
  bool poll_overlay = false;
  std::string state;
  bool state_reset = false;
  bool checksum = false;
  double reconcile_every = 0;  // seconds, 0: off
  std::vector<std::string> exclude, excludei, include, includei, exclude_glob;
  std::int64_t max_pending = 65536;
  std::string read_ahead = "8M";  // a size (size_flags.h); 0: off

  // The backend asked for, --poll and --backend together.
  BackendChoice backend_choice() const;
};

// Registers the engine flags on `app` (a subcommand), storing into `flags`, which must
// outlive the parse.
void add_engine_flags(CLI::App& app, EngineFlags& flags);

// Checks CLI11 cannot express (ranges, nan/inf, combinations): the first problem as one line
// naming the option, empty when all is well. Pure.
std::string check_engine_flags(const EngineFlags& flags);

// "nan", "inf" or out of [lo, hi] (0 allowed when zero_is_off): the message for `name`,
// empty when `v` is allowed. Pure; for a subcommand's own seconds options too.
std::string check_seconds(const char* name, double v, double lo, double hi, bool zero_is_off);

// Fills the engine part of `options` from checked `flags` (check_engine_flags returned
// empty). With --state, first makes sure the file may be written: never overwrites what is
// not a lookout state file unless --state-reset, and with --state-reset removes the old file.
// Returns the first problem as one line naming the option, empty on success.
std::string fill_watch_options(const EngineFlags& flags, WatchOptions& options);

}  // namespace lookout::cmd
