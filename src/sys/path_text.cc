#include "sys/path_text.h"

#include <limits.h>
#include <unistd.h>

namespace lookout::sys {

std::string absolute_path(const std::string& cwd, const std::string& p) {
  std::string out;
  if (!p.empty() && p[0] == '/') {
    out = p;
  } else {
    out = cwd.empty() ? "." : cwd;
    if (!p.empty() && p != ".") out += "/" + p;
  }
  for (std::size_t pos; (pos = out.find("/./")) != std::string::npos;) out.erase(pos, 2);
  for (std::size_t pos; (pos = out.find("//")) != std::string::npos;) out.erase(pos, 1);
  if (out.size() > 2 && out.compare(out.size() - 2, 2, "/.") == 0) out.resize(out.size() - 2);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string absolute_path(const std::string& p) {
  if (!p.empty() && p[0] == '/') return absolute_path("", p);
  char cwd[PATH_MAX];
  return absolute_path(::getcwd(cwd, sizeof cwd) ? cwd : "", p);
}

}  // namespace lookout::sys
