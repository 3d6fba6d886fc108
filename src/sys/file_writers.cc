#include "sys/file_writers.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "sys/unique_fd.h"

namespace lookout::sys {

Writers writers_of(const std::string& path) {
  struct stat ls;
  if (::lstat(path.c_str(), &ls) != 0 || !S_ISREG(ls.st_mode)) return Writers::none;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Writers::unknown;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Writers::none;  // not ours to judge
  if (::fcntl(fd.get(), F_SETLEASE, F_RDLCK) == 0) {
    ::fcntl(fd.get(), F_SETLEASE, F_UNLCK);
    return Writers::none;
  }
  return errno == EAGAIN ? Writers::some : Writers::unknown;
}

}  // namespace lookout::sys
