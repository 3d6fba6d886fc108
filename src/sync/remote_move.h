// Replaying a directory rename on an ssh target, so that what the directory holds is not sent
// again: one ssh command per batch of moves, the names on its stdin (NUL-separated pairs),
// never in the command line. The remote side is a fixed script that renames each pair only
// when the old name is a directory and the new one does not exist (`mv -T`), so a target that
// is not in step is left alone; any pair that fails makes the whole command fail, and the
// caller then sends the moved content the ordinary way.
#pragma once

#include <string>
#include <vector>

#include "sync/batch_paths.h"
#include "sync/sync_options.h"

namespace lookout::sync {

// ssh's argv for `t` (ssh_command, default "ssh", split at spaces as rsync splits -e), the
// host part and the remote command. Empty for targets that are not ssh.
std::vector<std::string> remote_move_argv(const TargetSpec& t);
// The remote command's stdin: from NUL to NUL, pair after pair.
std::string remote_move_input(const std::vector<DirMove>& moves);
// `s` as one word for a POSIX shell (single quotes).
std::string shell_word(const std::string& s);

}  // namespace lookout::sync
