#include "engine_flags.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/state_file.h"
#include "size_flags.h"

namespace lookout::cmd {

BackendChoice EngineFlags::backend_choice() const {
  if (poll || backend == "poll") return BackendChoice::poll;
  if (backend == "inotify") return BackendChoice::inotify;
  if (backend == "fanotify") return BackendChoice::fanotify;
  return BackendChoice::auto_select;
}

void add_engine_flags(CLI::App& app, EngineFlags& f) {
  app.add_option("--exclude", f.exclude, "Ignore paths matching this POSIX extended regex")
      ->allow_extra_args(false);
  app.add_option("--excludei", f.excludei, "Like --exclude, case-insensitive")
      ->allow_extra_args(false);
  app.add_option("--include", f.include, "Report only paths matching this regex")
      ->allow_extra_args(false);
  app.add_option("--includei", f.includei, "Like --include, case-insensitive")
      ->allow_extra_args(false);
  app.add_option("--exclude-glob", f.exclude_glob,
                 "Ignore paths matching this glob (relative path or name)")
      ->allow_extra_args(false);
  app.add_option("--max-pending", f.max_pending, "Unconsumed events before reading pauses");
  app.add_option("--read-ahead", f.read_ahead,
                 "inotify: how much a helper thread may read of the kernel's queue ahead of a "
                 "busy loop, so a burst does not overflow it (default 8M; 0: off)");
  app.add_option("--backend", f.backend, "auto (default), inotify, fanotify (root) or poll")
      ->check(CLI::IsMember({"auto", "inotify", "fanotify", "poll"}));
  app.add_flag("--poll", f.poll, "Shorthand for --backend poll");
  app.add_option("--state", f.state,
                 "Save the tree model to FILE (on exit and every minute); on start, report "
                 "what changed while lookout was not running. FILE must be missing, empty or "
                 "a lookout state file");
  app.add_flag("--state-reset", f.state_reset,
               "Forget what --state FILE holds (or replace a regular file that is not a state "
               "file) and start fresh");
  app.add_option("--poll-min", f.poll_min, "Shortest polling interval in seconds (after a change)");
  app.add_option("--poll-max", f.poll_max, "Longest polling interval in seconds (when quiet)");
  app.add_flag("--poll-full", f.poll_full,
               "Stat every entry on every pass (sees in-place writes at once)");
  app.add_option("--poll-full-every", f.poll_full_every,
                 "Seconds between full passes (default 0: auto, as often as 1% of the time "
                 "allows, from every --poll-min on a small tree to every 30 s on a large one)");
  app.add_flag("--poll-overlay", f.poll_overlay,
               "Poll overlay mounts: see writes made directly to their layers");
  app.add_option("--reconcile-every", f.reconcile_every,
                 "Seconds between backstop rescans of kernel-watched trees (default 0: off)");
  app.add_flag("--checksum", f.checksum,
               "Also compare file contents (xxHash) in polling passes and rescans, to report "
               "writes that kept size and mtime; reads every file once at start");
}

std::string check_seconds(const char* name, double v, double lo, double hi, bool zero_is_off) {
  if (zero_is_off && v == 0) return {};
  if (std::isfinite(v) && v >= lo && v <= hi) return {};
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: %g is not allowed: give seconds from %g to %g%s", name, v, lo,
                hi, zero_is_off ? ", or 0 for off" : "");
  return buf;
}

std::string check_engine_flags(const EngineFlags& f) {
  if (f.max_pending <= 0) {
    return "--max-pending: " + std::to_string(f.max_pending) +
           " is not allowed; give a positive number of events";
  }
  if (!parse_size(f.read_ahead)) {
    return "--read-ahead: '" + f.read_ahead + "' is not a size; give bytes, e.g. 8M, 512k or 0 for off";
  }
  // Milliseconds are kept in an int: 1e6 s (11 days) is far below its limit.
  constexpr double kMaxSeconds = 1e6;
  if (auto m = check_seconds("--reconcile-every", f.reconcile_every, 0.001, kMaxSeconds, true);
      !m.empty())
    return m;
  if (auto m = check_seconds("--poll-min", f.poll_min, 0.001, kMaxSeconds, false); !m.empty())
    return m;
  if (auto m = check_seconds("--poll-max", f.poll_max, 0.001, kMaxSeconds, false); !m.empty())
    return m;
  if (f.poll_full_every != 0) {  // 0, the default: from the budget
    if (auto m = check_seconds("--poll-full-every", f.poll_full_every, 0.001, kMaxSeconds, false); !m.empty())
      return m;
  }
  if (f.poll_max < f.poll_min) return "--poll-max must not be below --poll-min";
  if (f.state_reset && f.state.empty()) return "--state-reset needs --state FILE";
  return {};
}

std::string fill_watch_options(const EngineFlags& f, WatchOptions& wo) {
  wo.backend = f.backend_choice();
  wo.poll_min_ms = static_cast<int>(f.poll_min * 1000);
  wo.poll_max_ms = static_cast<int>(f.poll_max * 1000);
  wo.poll_full_every_ms = static_cast<int>(f.poll_full_every * 1000);
  wo.poll_full = f.poll_full;
  wo.checksum = f.checksum;
  wo.poll_overlay = f.poll_overlay;
  wo.reconcile_every_ms = static_cast<int>(f.reconcile_every * 1000);
  wo.state_file = f.state;
  if (!f.state.empty()) {
    // Never overwrite what is not a state file, and only ever write a regular file.
    auto target = core::check_state_target(f.state);
    if (!target) return target.error().message;
    if (*target == core::StateTarget::foreign && !f.state_reset) {
      return "--state " + f.state +
             " is not a lookout state file; refusing to overwrite it (use "
             "--state-reset to replace it, or choose another path)";
    }
    if (f.state_reset &&
        (*target == core::StateTarget::foreign || *target == core::StateTarget::state) &&
        ::unlink(f.state.c_str()) != 0) {
      return "--state-reset: cannot remove " + f.state + ": " + std::strerror(errno);
    }
  }
  wo.exclude_regex = f.exclude;
  wo.exclude_regex_icase = f.excludei;
  wo.include_regex = f.include;
  wo.include_regex_icase = f.includei;
  wo.exclude_globs = f.exclude_glob;
  wo.max_pending = std::max<std::size_t>(16, static_cast<std::size_t>(f.max_pending));
  wo.inotify_read_ahead_bytes = static_cast<std::size_t>(parse_size(f.read_ahead).value_or(0));
  return {};
}

}  // namespace lookout::cmd
