// An entry's identity and stamps (lookout::EntryStat) as the front ends compare them: to tell
// a file still being written from a quiet one (the batcher's settle, ingest's completion) and
// one file from another at the same name. lstat: a symlink is its own entry. Thread-safe.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

#include "lookout/event.h"

namespace lookout::sys {

EntryStat stamps_of(const struct stat& st);
// nullopt when nothing is at `path`.
std::optional<EntryStat> entry_stamps(const std::string& path);

}  // namespace lookout::sys
