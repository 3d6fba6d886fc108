#include "run/watch_plan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "run/kube_volume.h"
#include "sys/path_text.h"

namespace lookout::run {


namespace {
std::string dir_of(const std::string& abs) {
  auto slash = abs.rfind('/');
  return slash == 0 ? "/" : abs.substr(0, slash);
}

void add_once(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}
}  // namespace

Result<WatchPlan> plan_watch(const std::vector<std::string>& paths, bool allow_missing) {
  WatchPlan plan;
  for (const std::string& given : paths) {
    const std::string abs = sys::absolute_path(given);
    struct stat st {};
    // stat, not lstat: a symlink to a directory is watched as that directory, a symlink to a
    // file (a ConfigMap key) by name like any file.
    if (::stat(abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      add_once(plan.roots, abs);
      add_once(plan.under, abs);
      plan.has_dirs = true;
      continue;
    }
    const int err = errno;
    if (::lstat(abs.c_str(), &st) != 0 && !(err == ENOENT && allow_missing)) {
      return error_from_errno(err, "cannot watch", given,
                              err == ENOENT ? "check the path, or pass --allow-missing to wait for it" : "");
    }
    const std::string dir = dir_of(abs);
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
      return error_from_errno(errno ? errno : ENOTDIR, "cannot watch", dir,
                              "the directory of " + given + " must exist");
    }
    add_once(plan.roots, dir);
    add_once(plan.under, abs);
    add_once(plan.files, abs);
    if (is_kube_volume(dir)) add_once(plan.under, dir + "/" + std::string(kKubeDataLink));
  }
  return plan;
}

}  // namespace lookout::run
