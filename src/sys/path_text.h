// Path strings without the filesystem: what the engine and the front ends both do to a path
// a user typed. Pure (but for the working directory the one-argument form reads); thread-safe.
#pragma once

#include <string>

namespace lookout::sys {

// `p` made absolute against `cwd` (an absolute directory) by text alone, symlinks kept as
// named: "//" and "/./" collapse, a trailing "/." and trailing slashes go ("/" stays).
std::string absolute_path(const std::string& cwd, const std::string& p);
// The same against the process's working directory (getcwd(3)), as every front end names a
// path the user typed: the spelling the engine's events will use.
std::string absolute_path(const std::string& p);

}  // namespace lookout::sys
