// DirReader: lists one directory with getdents64 into a reusable buffer, skipping "." and "..".
// Cheaper than readdir(3) for large trees because one buffer serves every directory of a scan.
// Not thread-safe; one per scanning thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "sys/file_stat.h"

namespace lookout::sys {

struct DirEntry {
  std::string_view name;  // valid until the next read()
  FileType type;          // from d_type; unknown on filesystems that do not fill it
  std::uint64_t ino;
};

class DirReader {
 public:
  DirReader();
  // Reads every entry of the open directory `dirfd` into `out`. Returns 0 or an errno.
  int read(int dirfd, std::vector<DirEntry>& out);

 private:
  std::vector<char> buf_;
  std::vector<char> names_;  // names copied out so entries survive buffer refills
};

}  // namespace lookout::sys
