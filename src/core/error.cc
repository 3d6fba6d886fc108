#include <cstring>

#include "lookout/result.h"

namespace lookout {

Error error_from_errno(int err, std::string_view what, std::string_view path,
                       std::string_view hint) {
  Error e;
  e.sys_errno = err;
  e.path.assign(path);
  switch (err) {
    case ENOENT: e.code = ErrorCode::not_found; break;
    case EACCES:
    case EPERM: e.code = ErrorCode::permission_denied; break;
    case ENOTDIR: e.code = ErrorCode::not_a_directory; break;
    case EINVAL: e.code = ErrorCode::invalid_argument; break;
    default: e.code = ErrorCode::io;
  }
  e.message.append(what).append(" ").append(path).append(": ").append(std::strerror(err));
  if (!hint.empty()) e.message.append(" (").append(hint).append(")");
  return e;
}

}  // namespace lookout
