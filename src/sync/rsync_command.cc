#include "sync/rsync_command.h"

#include <cctype>

namespace lookout::sync {

std::vector<std::string> rsync_argv(const RsyncCommand& c, const TargetSpec& target, PassKind kind,
                                    bool checksum, bool quick_check) {
  std::vector<std::string> a{c.rsync, "-a", "--stats"};
  if (kind == PassKind::incremental) {
    a.insert(a.end(), {"--from0", "--files-from=-"});
    // rsync's quick check compares whole seconds by default: a same-size rewrite within the
    // second of the last transfer would be skipped. -1 compares nanoseconds too (receiver
    // 3.1.3 or later).
    a.push_back(quick_check ? "--modify-window=-1" : "--ignore-times");
    // Paths the list names that the source no longer has are deleted on the target; this
    // is the mirror's deletion, so --no-delete turns it off too.
    if (c.delete_extraneous) a.insert(a.end(), {"--delete-missing-args", "--force"});
    else a.push_back("--ignore-missing-args");
  } else {
    if (c.delete_extraneous) a.insert(a.end(), {"--delete", "--force"});
    if (checksum) a.push_back("--checksum");
  }
  if (c.timeout_ms > 0) a.push_back("--timeout=" + std::to_string((c.timeout_ms + 999) / 1000));
  if (target.kind == TargetKind::rsync_daemon) {
    // A daemon that does not answer fails the transfer (exit 35) instead of hanging.
    a.push_back("--contimeout=15");
    if (!target.password_file.empty()) a.push_back("--password-file=" + target.password_file);
  }
  if (target.kind == TargetKind::ssh && !target.ssh_command.empty()) a.insert(a.end(), {"-e", target.ssh_command});
  for (const std::string& x : c.excludes) a.push_back("--exclude=" + x);
  a.insert(a.end(), target.rsync_args.begin(), target.rsync_args.end());
  // "--": neither SOURCE nor the target is read as an option, whatever its name.
  a.push_back("--");
  a.push_back(c.source + "/");
  a.push_back(target.destination);
  return a;
}

std::string files_from_list(const std::vector<std::string>& relative_paths) {
  std::string out;
  for (const std::string& p : relative_paths) {
    out += p;
    out.push_back('\0');
  }
  return out;
}

namespace {
// The number after `label` on its line, thousands separators (',' or '.') skipped.
std::uint64_t number_after(std::string_view text, std::string_view label) {
  std::size_t at = text.find(label);
  if (at == std::string_view::npos) return 0;
  std::uint64_t v = 0;
  for (std::size_t i = at + label.size(); i < text.size(); ++i) {
    const char ch = text[i];
    if (std::isdigit(static_cast<unsigned char>(ch))) v = v * 10 + static_cast<std::uint64_t>(ch - '0');
    else if ((ch == ',' || ch == '.') && v > 0) continue;
    else if (ch == ' ' && v == 0) continue;
    else break;
  }
  return v;
}
}  // namespace

RsyncStats parse_rsync_stats(std::string_view output) {
  RsyncStats s;
  s.files = number_after(output, "Number of regular files transferred:");
  s.deleted = number_after(output, "Number of deleted files:");
  s.bytes = number_after(output, "Total bytes sent:");
  return s;
}

std::optional<std::vector<int>> parse_rsync_version(std::string_view out) {
  std::size_t at = out.find("version ");
  if (at == std::string_view::npos) return std::nullopt;
  at += 8;
  while (at < out.size() && out[at] == ' ') ++at;
  std::vector<int> v;
  int cur = -1;
  for (; at < out.size(); ++at) {
    const char ch = out[at];
    if (std::isdigit(static_cast<unsigned char>(ch))) {
      cur = (cur < 0 ? 0 : cur * 10) + (ch - '0');
    } else if (ch == '.' && cur >= 0) {
      v.push_back(cur);
      cur = -1;
    } else {
      break;
    }
  }
  if (cur >= 0) v.push_back(cur);
  if (v.empty()) return std::nullopt;
  return v;
}

bool rsync_version_ok(const std::vector<int>& v) {
  const int major = v.empty() ? 0 : v[0], minor = v.size() > 1 ? v[1] : 0;
  return major > 3 || (major == 3 && minor >= 1);
}

bool rsync_succeeded(int exit_code) { return exit_code == 0 || exit_code == 24; }

std::string describe_rsync_exit(int code) {
  switch (code) {
    case 0: return "success";
    case 1: return "rsync exit 1: syntax or usage error (check --rsync-arg)";
    case 2: return "rsync exit 2: protocol incompatibility (the other side's rsync is too old or too new)";
    case 3: return "rsync exit 3: cannot select input or output files (does the target directory exist?)";
    case 5: return "rsync exit 5: the daemon refused (wrong password, unknown or read-only module, or auth users)";
    case 10: return "rsync exit 10: socket I/O error (host unreachable, or no daemon on that port)";
    case 11: return "rsync exit 11: file I/O error (is the target's disk full or read-only?)";
    case 12: return "rsync exit 12: protocol data stream error (the connection broke, or the target's disk is full)";
    case 20: return "rsync exit 20: stopped by a signal";
    case 23: return "rsync exit 23: partial transfer (some files could not be read or written)";
    case 24: return "rsync exit 24: some source files vanished (not a failure)";
    case 30: return "rsync exit 30: timeout in data send or receive";
    case 35: return "rsync exit 35: timeout waiting for the daemon connection";
    case 127: return "rsync exit 127: rsync could not be run";
    case 255: return "rsync exit 255: ssh failed (check the host, key and --ssh-command)";
    default: return "rsync exit " + std::to_string(code);
  }
}

}  // namespace lookout::sync
