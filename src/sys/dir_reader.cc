#include "sys/dir_reader.h"

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lookout::sys {

namespace {
struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};
}  // namespace

DirReader::DirReader() : buf_(64 * 1024) {}

int DirReader::read(int dirfd, std::vector<DirEntry>& out) {
  out.clear();
  names_.clear();
  struct Pending {
    std::size_t off, len;
    FileType type;
    std::uint64_t ino;
  };
  std::vector<Pending> pending;
  for (;;) {
    long n = ::syscall(SYS_getdents64, dirfd, buf_.data(), buf_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break;
    for (long pos = 0; pos < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf_.data() + pos);
      pos += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      std::size_t len = std::strlen(name);
      pending.push_back({names_.size(), len, file_type_from_dirent(d->d_type), d->d_ino});
      names_.insert(names_.end(), name, name + len);
    }
  }
  out.reserve(pending.size());
  for (const auto& p : pending) {
    out.push_back({std::string_view(names_.data() + p.off, p.len), p.type, p.ino});
  }
  return 0;
}

}  // namespace lookout::sys
