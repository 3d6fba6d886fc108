// The rsync command lines `lookout sync` runs, and what it reads back from rsync. Pure.
//   full pass:    rsync -a --stats [--delete] [--checksum] [filters] SOURCE/ DEST/
//   incremental:  rsync -a --stats --from0 --files-from=- --ignore-times
//                 [--delete-missing-args --force] [filters] SOURCE/ DEST/
// The incremental list holds only paths lookout saw change, relative to SOURCE, NUL-separated
// on rsync's stdin (any byte in a name works; nothing passes through a shell). --ignore-times
// because rsync's quick check would skip a changed file whose size and mtime equal the
// target's (a swap of two directories, a restored mtime); the list holds only changed paths,
// so this costs nothing extra. --delete-missing-args turns a listed path that is gone from the
// source into a deletion on the target, and --force lets that delete a non-empty directory
// (without it rsync prints "cannot delete non-empty directory" and still exits 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/sync_options.h"

namespace lookout::sync {

// `move`: no rsync; directory renames replayed on an ssh target (sync/remote_move.h).
enum class PassKind { full, incremental, verify, move };

struct RsyncCommand {
  std::string rsync = "rsync";
  std::string source;  // absolute, no trailing '/'
  bool delete_extraneous = true;
  std::vector<std::string> excludes;  // rsync --exclude patterns (globs; "/x/" anchors at SOURCE)
  std::int64_t timeout_ms = 0;        // rsync --timeout (I/O stall), 0: none
};

// The argv for one pass to `target`. `quick_check`: an incremental pass that lets rsync skip
// files whose size and mtime match (the changes found after a restart, most of which the
// target already has); `checksum` (full and verify passes): compare contents, not stamps.
std::vector<std::string> rsync_argv(const RsyncCommand& c, const TargetSpec& target, PassKind kind,
                                    bool checksum = false, bool quick_check = false);

// The NUL-separated list rsync reads with --from0 --files-from=-.
std::string files_from_list(const std::vector<std::string>& relative_paths);

struct RsyncStats {
  std::uint64_t files = 0;    // regular files transferred
  std::uint64_t deleted = 0;  // entries deleted on the target
  std::uint64_t bytes = 0;    // bytes sent over the wire
};
// Reads --stats output ("Number of regular files transferred: 1,234", ...); absent lines
// count 0.
RsyncStats parse_rsync_stats(std::string_view output);

// "rsync  version 3.2.7  protocol version 31" -> {3, 2, 7}.
std::optional<std::vector<int>> parse_rsync_version(std::string_view version_output);
// --delete-missing-args came with rsync 3.1.0.
bool rsync_version_ok(const std::vector<int>& v);

// Exit code 24 ("some files vanished before they could be transferred"): a file deleted
// between the event and the transfer; the deletion comes in a later batch. Not a failure.
bool rsync_succeeded(int exit_code);
// What an rsync exit code means, with the usual cause, for a log line.
std::string describe_rsync_exit(int exit_code);

}  // namespace lookout::sync
