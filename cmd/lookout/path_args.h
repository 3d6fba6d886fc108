// PATH arguments as inotifywait and inotifywatch take them: the paths on the command line
// plus those of --fromfile (one a line, `-` for stdin), where `@PATH` excludes PATH. Shared by
// `watch` and `stats`. Parse time only; not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::cmd {

struct PathArgs {
  std::vector<std::string> watch;    // as given (the engine makes them absolute)
  std::vector<std::string> exclude;  // absolute, from @PATH
};

// An Error naming --fromfile's file and why it cannot be read.
Result<PathArgs> read_path_args(const std::vector<std::string>& given, const std::string& fromfile);

}  // namespace lookout::cmd
