#include "run/target_process.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace lookout::run {

namespace {
bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  std::size_t start = s.find_first_not_of(" \t");
  return start == std::string::npos ? "" : s.substr(start);
}
}  // namespace

Result<std::vector<pid_t>> find_targets(const TargetSpec& spec) {
  if (spec.pid > 0) {
    if (!alive(spec.pid)) {
      return Error{ErrorCode::not_found, ESRCH, std::to_string(spec.pid),
                   "no process " + std::to_string(spec.pid) + " to signal (--pid)"};
    }
    return std::vector<pid_t>{spec.pid};
  }
  if (!spec.pid_file.empty()) {
    std::ifstream in(spec.pid_file);
    if (!in) {
      return error_from_errno(errno ? errno : ENOENT, "cannot read pid file", spec.pid_file,
                              "is the program running? it writes this file when it starts");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = trimmed(ss.str());
    pid_t pid = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (ec != std::errc() || end != text.data() + text.size() || pid <= 0) {
      return Error{ErrorCode::invalid_argument, 0, spec.pid_file,
                   "pid file " + spec.pid_file + " holds no process id ('" + text.substr(0, 40) + "')"};
    }
    if (!alive(pid)) {
      return Error{ErrorCode::not_found, ESRCH, spec.pid_file,
                   "pid file " + spec.pid_file + " names process " + std::to_string(pid) +
                       ", which is not running (a stale pid file)"};
    }
    return std::vector<pid_t>{pid};
  }
  std::vector<pid_t> found;
  if (DIR* d = ::opendir("/proc")) {
    const pid_t self = ::getpid();
    while (dirent* ent = ::readdir(d)) {
      pid_t pid = 0;
      std::string_view name = ent->d_name;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
      if (ec != std::errc() || end != name.data() + name.size() || pid == self) continue;
      std::ifstream comm("/proc/" + std::string(name) + "/comm");
      std::string c;
      if (comm && std::getline(comm, c) && c == spec.exact_name) found.push_back(pid);
    }
    ::closedir(d);
  }
  if (found.empty()) {
    return Error{ErrorCode::not_found, ESRCH, spec.exact_name,
                 "no process named '" + spec.exact_name + "' to signal (--pgrep-exact; names are "
                 "the first 15 bytes, as in /proc/PID/comm)"};
  }
  return found;
}

}  // namespace lookout::run
