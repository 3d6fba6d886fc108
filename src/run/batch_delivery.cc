#include "run/batch_delivery.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>
#include <unordered_set>

#include "sink/json_format.h"

namespace lookout::run {

namespace {

// "lookout-events-<pid>-XXXXXX": the pid tells a file left by a lookout that was killed
// before it could remove it (remove_stale_event_files).
const std::string kEventsStem = "lookout-events-";

std::string temp_dir() {
  const char* t = ::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// Writes all of `data` to fd: 0 or an errno.
int write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// A file in the temporary directory holding `data`: its fd (at offset 0) and path.
Result<std::pair<sys::UniqueFd, std::string>> temp_file(const std::string& data, const std::string& stem) {
  std::string path = temp_dir() + "/" + stem + "XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return error_from_errno(errno, "cannot create a temporary file in", temp_dir(), "set TMPDIR to a writable directory");
  sys::UniqueFd owned(fd);
  if (int err = write_all(fd, data); err != 0) {
    ::unlink(path.c_str());
    return error_from_errno(err, "cannot write", path, "free some space, or set TMPDIR elsewhere");
  }
  ::lseek(fd, 0, SEEK_SET);
  return std::make_pair(std::move(owned), path);
}

}  // namespace

std::vector<std::string> changed_paths(const std::vector<Event>& batch) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  auto add = [&](const std::string& p) {
    if (!p.empty() && seen.insert(p).second) out.push_back(p);
  };
  for (const Event& e : batch) {
    if (e.kind == EventKind::rename) add(e.from);
    add(e.path);
  }
  return out;
}

void remove_stale_event_files() {
  const std::string dir = temp_dir();
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (name.substr(0, kEventsStem.size()) != kEventsStem) continue;
    name.remove_prefix(kEventsStem.size());
    pid_t pid = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end == name.data() + name.size() || *end != '-' || pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // its lookout still runs
    ::unlinkat(::dirfd(d), ent->d_name, 0);
  }
  ::closedir(d);
}

BatchDelivery::~BatchDelivery() {
  if (!events_file_.empty()) ::unlink(events_file_.c_str());
}

Result<BatchDelivery> BatchDelivery::prepare(const RunOptions& o, const std::vector<Event>& batch) {
  BatchDelivery d;
  const std::vector<std::string> paths = changed_paths(batch);
  if (o.shell) {
    // The script is one argument; the paths, when asked for, are its "$@", never its text.
    d.spawn_.argv = {"/bin/sh", "-c", o.command.empty() ? "" : o.command[0], "lookout"};
    for (std::size_t i = 1; i < o.command.size(); ++i) d.spawn_.argv.push_back(o.command[i]);
  } else {
    d.spawn_.argv = o.command;
  }
  if (o.arg_files) d.spawn_.argv.insert(d.spawn_.argv.end(), paths.begin(), paths.end());

  std::string lines;
  for (const Event& e : batch) {
    sink::format_json(e, lines, true);
    lines.push_back('\n');
  }
  auto file = temp_file(lines, kEventsStem + std::to_string(::getpid()) + "-");
  if (!file) return file.error();
  d.events_file_ = file->second;  // the fd closes here; the file stays until the run ends
  d.spawn_.env_add = {"LOOKOUT_CHANGED=" + std::to_string(paths.size()),
                      "LOOKOUT_EVENTS_FILE=" + d.events_file_};

  if (o.stdin_events == "json" || o.stdin_events == "null") {
    std::string data = lines;
    if (o.stdin_events == "null") {
      data.clear();
      for (const std::string& p : paths) {
        data += p;
        data.push_back('\0');
      }
    }
    // A file, not a pipe: a program that does not read its stdin cannot block lookout.
    auto in = temp_file(data, "lookout-stdin-");
    if (!in) return in.error();
    ::unlink(in->second.c_str());
    d.stdin_ = std::move(in->first);
    d.spawn_.stdin_fd = d.stdin_.get();
  }
  return d;
}

}  // namespace lookout::run
