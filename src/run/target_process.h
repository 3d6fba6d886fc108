// The process signal mode signals: given by pid, by a pid file (read again before every
// send, as nginx and HAProxy rewrite theirs on restart), or by exact process name (a
// Kubernetes sidecar with shareProcessNamespace sees the other container's processes).
// Reads /proc and the pid file; thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::run {

struct TargetSpec {
  pid_t pid = 0;
  std::string pid_file;
  std::string exact_name;
};

// The pids to signal now. An Error, naming the file or name and what is wrong, when the pid
// file is missing, unreadable, not a number, or names no running process, or when no
// process has that name.
Result<std::vector<pid_t>> find_targets(const TargetSpec& spec);

}  // namespace lookout::run
