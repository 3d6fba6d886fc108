#include "path_args.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iostream>

#include "sys/path_text.h"

namespace lookout::cmd {

Result<PathArgs> read_path_args(const std::vector<std::string>& given, const std::string& fromfile) {
  std::vector<std::string> paths = given;
  if (!fromfile.empty()) {
    std::ifstream f;
    std::istream* in = &std::cin;
    if (fromfile != "-") {
      f.open(fromfile);
      if (!f) {
        return Error{ErrorCode::not_found, errno, fromfile,
                     "cannot read --fromfile " + fromfile + ": " + std::strerror(errno)};
      }
      in = &f;
    }
    for (std::string line; std::getline(*in, line);) {
      if (!line.empty()) paths.push_back(line);
    }
  }
  char cwd[PATH_MAX];
  const std::string here = ::getcwd(cwd, sizeof cwd) ? cwd : "";
  PathArgs out;
  for (const auto& p : paths) {
    if (p.size() > 1 && p[0] == '@') {
      out.exclude.push_back(sys::absolute_path(here, p.substr(1)));
    } else {
      out.watch.push_back(p);
    }
  }
  return out;
}

}  // namespace lookout::cmd
