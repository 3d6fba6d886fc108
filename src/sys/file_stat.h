// FileStat: the metadata the tree model keeps per entry, read without following symlinks.
// Pure data plus one syscall wrapper; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace lookout::sys {

enum class FileType : std::uint8_t { unknown, file, dir, symlink, other };

struct FileStat {
  FileType type = FileType::unknown;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint32_t mode = 0;  // permission bits and type, as st_mode
};

FileType file_type_from_mode(mode_t mode);
FileType file_type_from_dirent(unsigned char d_type);

// fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW). Returns 0 or an errno.
int stat_at(int dirfd, const char* name, FileStat& out);
// stat(2): follows symlinks (used for roots the user named). Returns 0 or an errno.
int stat_follow(const char* path, FileStat& out);

}  // namespace lookout::sys
