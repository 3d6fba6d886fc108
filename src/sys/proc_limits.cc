#include "sys/proc_limits.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <algorithm>

namespace lookout::sys {

std::optional<std::int64_t> read_int_file(const std::string& path) {
  std::ifstream in(path);
  std::int64_t v;
  if (in >> v) return v;
  return std::nullopt;
}

std::string describe_fd_shortage(int err) {
  if (err == ENOMEM) return "the kernel is out of memory; free some, or watch a smaller tree";
  if (err == ENFILE) {
    // /proc/sys/fs/file-max may not be readable now (no fd to read it with): name the knob.
    return "the system-wide open file limit fs.file-max is reached; raise it with: sysctl -w "
           "fs.file-max=N, or close files elsewhere";
  }
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  auto soft = static_cast<std::int64_t>(rl.rlim_cur);
  std::int64_t suggest = std::max<std::int64_t>(1024, soft * 4);
  std::string s = "RLIMIT_NOFILE=" + std::to_string(soft) + " reached by this process";
  s += "; raise it with: ulimit -n " + std::to_string(suggest) +
       " (or LimitNOFILE=" + std::to_string(suggest) + " in a systemd unit)";
  return s;
}

std::int64_t fd_limit_of(int err) {
  if (err == EMFILE) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return static_cast<std::int64_t>(rl.rlim_cur);
  }
  if (err == ENFILE) return read_int_file("/proc/sys/fs/file-max").value_or(-1);
  return -1;
}

bool fd_table_full() {
  int fd = ::open("/", O_PATH | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return false;
  }
  return errno == EMFILE;
}

InotifyLimits read_inotify_limits() {
  InotifyLimits l;
  l.max_user_watches = read_int_file("/proc/sys/fs/inotify/max_user_watches").value_or(-1);
  l.max_user_instances = read_int_file("/proc/sys/fs/inotify/max_user_instances").value_or(-1);
  l.max_queued_events = read_int_file("/proc/sys/fs/inotify/max_queued_events").value_or(-1);
  l.watches_knob = "fs.inotify.max_user_watches";
  if (auto ns = read_int_file("/proc/sys/user/max_inotify_watches");
      ns && (*ns < l.max_user_watches || l.max_user_watches < 0)) {
    l.max_user_watches = *ns;
    l.watches_knob = "user.max_inotify_watches";
  }
  if (auto ns = read_int_file("/proc/sys/user/max_inotify_instances");
      ns && (*ns < l.max_user_instances || l.max_user_instances < 0)) {
    l.max_user_instances = *ns;
  }
  return l;
}

std::vector<InotifyUsage> read_inotify_usage(unsigned uid) {
  std::vector<InotifyUsage> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (dirent* d = ::readdir(proc)) {
    char* end;
    long pid = std::strtol(d->d_name, &end, 10);
    if (*end != 0 || pid <= 0) continue;
    std::string base = std::string("/proc/") + d->d_name;
    struct stat st;
    if (::stat(base.c_str(), &st) != 0 || st.st_uid != uid) continue;
    InotifyUsage u;
    u.pid = static_cast<int>(pid);
    std::string fd_dir = base + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[64];
      std::string link = fd_dir + "/" + f->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = 0;
      if (std::string_view(target) != "anon_inode:inotify") continue;
      ++u.instances;
      std::ifstream info(base + "/fdinfo/" + f->d_name);
      std::string line;
      while (std::getline(info, line)) {
        if (line.rfind("inotify wd:", 0) == 0) ++u.watches;
      }
    }
    ::closedir(fds);
    if (u.instances > 0) {
      std::ifstream comm(base + "/comm");
      std::getline(comm, u.comm);
      out.push_back(std::move(u));
    }
  }
  ::closedir(proc);
  return out;
}

}  // namespace lookout::sys
