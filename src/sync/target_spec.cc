#include "sync/target_spec.h"

#include <sstream>

#include "sys/path_text.h"

namespace lookout::sync {

namespace {
Error bad(const std::string& text, const std::string& why) {
  return Error{ErrorCode::invalid_argument, 0, text, "target '" + text + "': " + why};
}
std::string with_slash(std::string s) {
  if (s.empty() || s.back() != '/') s += '/';
  return s;
}
}  // namespace

Result<TargetSpec> parse_target(const std::string& text) {
  TargetSpec t;
  t.text = text;
  if (text.empty()) return bad(text, "empty (give a directory, host:/path or rsync://host/module)");
  if (text.rfind("rsync://", 0) == 0) {
    const std::string rest = text.substr(8);
    const std::size_t slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size()) {
      return bad(text, "an rsync daemon target needs a host and a module (rsync://[user@]host[:port]/module[/path])");
    }
    t.kind = TargetKind::rsync_daemon;
    t.destination = with_slash(text);
    return t;
  }
  const std::size_t colon = text.find(':');
  const std::size_t slash = text.find('/');
  if (colon != std::string::npos && colon > 0 && (slash == std::string::npos || colon < slash)) {
    if (colon + 1 >= text.size()) return bad(text, "an ssh target needs a path after the colon ([user@]host:/path)");
    t.kind = TargetKind::ssh;
    t.destination = with_slash(text);
    return t;
  }
  t.kind = TargetKind::local;
  t.destination = with_slash(sys::absolute_path(text));
  return t;
}

std::string target_host(const TargetSpec& t) {
  std::string s;
  if (t.kind == TargetKind::rsync_daemon) {
    s = t.text.substr(8);
    s = s.substr(0, s.find('/'));
  } else if (t.kind == TargetKind::ssh) {
    s = t.text.substr(0, t.text.find(':'));
  } else {
    return {};
  }
  if (std::size_t at = s.rfind('@'); at != std::string::npos) s = s.substr(at + 1);
  return s;
}

std::vector<std::string> ssh_command_words(const TargetSpec& t) {
  std::vector<std::string> out;
  std::istringstream words(t.ssh_command.empty() ? std::string("ssh") : t.ssh_command);
  for (std::string w; words >> w;) out.push_back(w);
  return out;
}

}  // namespace lookout::sync
