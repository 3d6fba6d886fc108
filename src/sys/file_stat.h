// FileStat: the metadata the tree model keeps per entry, read without following symlinks,
// including what tells a reused inode number apart (the birth stamp). Pure data plus syscall
// wrappers; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace lookout::sys {

enum class FileType : std::uint8_t { unknown, file, dir, symlink, other };

// What FileStat::birth holds. ext4 hands a freed inode number to the next new file at once
// (200/200: docs/kernel-facts.md#ext4-reuses-inode-numbers), so (dev, ino) alone cannot say "same
// file". The birth time (statx STATX_BTIME) never changes for the life of an inode and a reused
// number gets a new one; where the filesystem keeps no birth time, FS_IOC_GETVERSION's inode
// generation does the same job at the price of an open per entry. See docs/design.md "Identity".
enum class BirthKind : std::uint8_t { none, btime, generation };

struct FileStat {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t birth = 0;  // btime in ns, or the inode generation; see birth_kind
  std::uint32_t mode = 0;   // permission bits and type, as st_mode
  // The small fields last, so they share the tail padding: 56 bytes, as before birth and nlink.
  FileType type = FileType::unknown;
  BirthKind birth_kind = BirthKind::none;
  // Names of the inode (saturated at 65535): above 1, a write through one name changes what
  // every other name holds, and inotify reports it only under the name used.
  std::uint16_t nlink = 0;

  friend bool operator==(const FileStat&, const FileStat&) = default;
};
// One per model node (550k at the largest benchmark tree, RSS target 100 MB): the birth stamp
// had to fit in the padding, and nothing else may grow it unnoticed.
static_assert(sizeof(void*) != 8 || sizeof(FileStat) == 56, "FileStat grew: see tree_model.h Node");

// True when a and b carry birth stamps of the same kind: then they alone decide whether two
// stats with one (dev, ino) are the same file.
inline bool births_comparable(const FileStat& a, const FileStat& b) {
  return a.birth_kind != BirthKind::none && a.birth_kind == b.birth_kind;
}

FileType file_type_from_mode(mode_t mode);
FileType file_type_from_dirent(unsigned char d_type);

// statx(dirfd, name, AT_SYMLINK_NOFOLLOW) with the birth time; where the filesystem reports
// none, the inode generation of files and directories (FS_IOC_GETVERSION). Returns 0 or an
// errno.
int stat_at(int dirfd, const char* name, FileStat& out);
// The same, following symlinks (used for roots the user named). Returns 0 or an errno.
int stat_follow(const char* path, FileStat& out);
// The same for an open fd (statx with AT_EMPTY_PATH). Returns 0 or an errno.
int stat_fd(int fd, FileStat& out);

}  // namespace lookout::sys
