// SyncOptions: everything `lookout sync` is asked to do, as plain data, so that the command
// line and (later) the daemon's job configuration fill the same struct. Per-target settings
// (credentials, ssh command, extra rsync options) live in TargetSpec, so that the daemon's
// config can give each target its own. Checked by check_sync_options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lookout/watcher.h"

namespace lookout::sync {

enum class TargetKind { local, ssh, rsync_daemon };

struct TargetSpec {
  std::string text;  // as given (printed in messages and JSON; holds no password)
  TargetKind kind = TargetKind::local;
  std::string destination;  // what rsync is given, ending in '/'
  std::string password_file;            // rsync:// only (rsync's --password-file)
  std::string ssh_command;              // ssh targets: rsync's -e (e.g. "ssh -p 2222 -i key")
  std::vector<std::string> rsync_args;  // extra options, after lookout's own
};

struct SyncOptions {
  // The engine's options (backend, polling, filters); paths, recursion, the state file and
  // the excludes of lookout's own files are filled in by run().
  WatchOptions watch;
  std::string source;  // SOURCE_DIR
  std::vector<TargetSpec> targets;
  std::string rsync = "rsync";
  std::vector<std::string> exclude_globs;  // neither watched nor sent (rsync --exclude too)
  bool delete_extraneous = true;           // a mirror: what the source lost, targets lose
  std::int64_t delay_ms = 500;             // trailing batch window
  std::int64_t max_delay_ms = 5000;        // a batch is sent at most this long after its first change
  std::int64_t retry_max_ms = 60000;       // backoff after failures: 1 s, 2 s, ... up to this
  std::int64_t verify_every_ms = 0;        // 0: off
  bool verify_checksum = false;
  std::int64_t timeout_ms = 120000;        // rsync --timeout: a stalled transfer fails, never hangs
  std::int64_t stop_timeout_ms = 5000;     // on SIGTERM, rsync gets TERM, then KILL this long later
  std::string state_dir;                   // empty: no state (the first pass is full)
  // How often the tree model in state_dir is saved, once every change seen so far is recorded
  // as pending: after a kill -9, a restart re-examines only what changed since that save.
  std::int64_t state_save_every_ms = 30000;
  bool once = false;
  bool json = false;
  bool ready = false;
};

// The first problem as one line naming the option or target (empty: fine). Pure.
std::string check_sync_options(const SyncOptions& o);

}  // namespace lookout::sync
