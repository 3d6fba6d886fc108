// --files-from: the paths to watch, one a line or NUL-terminated (-0), from a file or from
// standard input ("-"), as entr users pipe `ls *.c | entr make`. Empty entries are skipped.
#pragma once

#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::run {

// An Error names the file when it cannot be read.
Result<std::vector<std::string>> read_path_list(const std::string& file, bool nul_separated);

}  // namespace lookout::run
