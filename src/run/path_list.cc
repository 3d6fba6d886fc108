#include "run/path_list.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "sys/unique_fd.h"

namespace lookout::run {

Result<std::vector<std::string>> read_path_list(const std::string& file, bool nul_separated) {
  sys::UniqueFd owned;
  int fd = STDIN_FILENO;
  if (file != "-") {
    owned = sys::UniqueFd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned.valid()) return error_from_errno(errno, "--files-from: cannot read", file);
    fd = owned.get();
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error_from_errno(errno, "--files-from: cannot read", file == "-" ? "standard input" : file);
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  const char sep = nul_separated ? '\0' : '\n';
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < data.size()) {
    std::size_t end = data.find(sep, start);
    if (end == std::string::npos) end = data.size();
    std::string entry = data.substr(start, end - start);
    if (!nul_separated && !entry.empty() && entry.back() == '\r') entry.pop_back();
    if (!entry.empty()) out.push_back(std::move(entry));
    start = end + 1;
  }
  return out;
}

}  // namespace lookout::run
