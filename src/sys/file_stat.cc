#include "sys/file_stat.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace lookout::sys {

FileType file_type_from_mode(mode_t mode) {
  if (S_ISREG(mode)) return FileType::file;
  if (S_ISDIR(mode)) return FileType::dir;
  if (S_ISLNK(mode)) return FileType::symlink;
  return FileType::other;
}

FileType file_type_from_dirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return FileType::file;
    case DT_DIR: return FileType::dir;
    case DT_LNK: return FileType::symlink;
    case DT_UNKNOWN: return FileType::unknown;
    default: return FileType::other;
  }
}

namespace {
void fill(const struct stat& st, FileStat& out);
}

int stat_at(int dirfd, const char* name, FileStat& out) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  fill(st, out);
  return 0;
}

int stat_follow(const char* path, FileStat& out) {
  struct stat st;
  if (::stat(path, &st) != 0) return errno;
  fill(st, out);
  return 0;
}

namespace {
void fill(const struct stat& st, FileStat& out) {
  out.type = file_type_from_mode(st.st_mode);
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  out.size = static_cast<std::uint64_t>(st.st_size);
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  out.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  out.mode = st.st_mode;
}
}  // namespace

}  // namespace lookout::sys
