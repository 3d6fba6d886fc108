// What the kernel allows this user for inotify, and how much of it is already in use.
// Reads /proc; every function is thread-safe and cheap enough for an error path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lookout::sys {

struct InotifyLimits {
  std::int64_t max_user_watches = -1;    // -1: unknown
  std::int64_t max_user_instances = -1;
  std::int64_t max_queued_events = -1;
  std::string watches_knob;              // the file that holds the limit in force here
};

// In a user namespace the per-namespace /proc/sys/user/max_inotify_* limit may be lower
// than the host's fs.inotify one; the smaller one is the one that bites.
InotifyLimits read_inotify_limits();

struct InotifyUsage {
  int pid = 0;
  std::string comm;
  std::int64_t instances = 0;
  std::int64_t watches = 0;
};

// Per-process inotify usage of processes owned by `uid`, from /proc/*/fdinfo.
std::vector<InotifyUsage> read_inotify_usage(unsigned uid);

std::optional<std::int64_t> read_int_file(const std::string& path);

// For a call that failed with EMFILE, ENFILE or ENOMEM: which limit was hit and how to raise
// it, as the parenthesis of an error message ("RLIMIT_NOFILE=12 reached by this process;
// raise it with ulimit -n 4096, or LimitNOFILE= in a systemd unit"). Needs no free fd.
std::string describe_fd_shortage(int err);

// True when this process cannot open one more file (its RLIMIT_NOFILE is reached), as opposed
// to a per-user limit (inotify instances) that also reads EMFILE.
bool fd_table_full();

// The limit an EMFILE (RLIMIT_NOFILE's soft value) or ENFILE (fs.file-max) ran into; -1 for
// other errors or when it cannot be read.
std::int64_t fd_limit_of(int err);

}  // namespace lookout::sys
