#include "sync/remote_move.h"

#include "sync/target_spec.h"

namespace lookout::sync {

std::string shell_word(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::vector<std::string> remote_move_argv(const TargetSpec& t) {
  if (t.kind != TargetKind::ssh) return {};
  std::vector<std::string> argv = ssh_command_words(t);
  // destination: [user@]host:path/ (the path relative to the login directory when not absolute)
  const std::size_t colon = t.destination.find(':');
  const std::string host = t.destination.substr(0, colon);
  std::string dir = t.destination.substr(colon + 1);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) dir = ".";
  // The names arrive as "$1" and "$2" of a fixed script: no shell ever parses them.
  const std::string script =
      "[ -d \"$1\" ] && [ ! -L \"$1\" ] && [ ! -e \"$2\" ] && [ ! -L \"$2\" ] && mv -T -- \"$1\" \"$2\"";
  argv.push_back(host);
  argv.push_back("cd -- " + shell_word(dir) + " && xargs -0 -n 2 sh -c " + shell_word(script) + " sh");
  return argv;
}

std::string remote_move_input(const std::vector<DirMove>& moves) {
  std::string out;
  for (const DirMove& m : moves) {
    out += m.from;
    out += '\0';
    out += m.to;
    out += '\0';
  }
  return out;
}

}  // namespace lookout::sync
