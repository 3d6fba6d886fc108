// What a TARGET on the command line means, as rsync sees it:
//   rsync://[user@]host[:port]/module[/path]  an rsync daemon
//   [user@]host:/path                         rsync over ssh (a colon before any slash)
//   /local/dir (or a relative path)           a local directory
// Pure.
#pragma once

#include <string>
#include <vector>

#include "lookout/result.h"
#include "sync/sync_options.h"

namespace lookout::sync {

// The target's kind and rsync destination (ending in '/'); a local path made absolute.
// An Error naming the target when it is empty or an rsync:// address without a module.
Result<TargetSpec> parse_target(const std::string& text);

// "host" (or "host:port") of an rsync:// or ssh target, for messages; empty for local.
std::string target_host(const TargetSpec& t);

// An ssh target's ssh command as words (split at spaces, as rsync splits -e): "ssh" by default.
std::vector<std::string> ssh_command_words(const TargetSpec& t);

}  // namespace lookout::sync
