#include "run/kube_volume.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

namespace lookout::run {

bool is_kube_volume(const std::string& dir) {
  struct stat st {};
  return ::lstat((dir + "/" + std::string(kKubeDataLink)).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool is_kube_internal(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return name.size() > 2 && name.substr(0, 2) == "..";
}

std::vector<Event> kube_update(const Event& swap) {
  if (swap.kind != EventKind::rename && swap.kind != EventKind::create) return {};
  auto slash = swap.path.rfind('/');
  if (slash == std::string::npos || std::string_view(swap.path).substr(slash + 1) != kKubeDataLink) return {};
  const std::string dir = slash == 0 ? "/" : swap.path.substr(0, slash);
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      std::string_view name = ent->d_name;
      if (name.substr(0, 1) == "." && (name == "." || name == ".." || is_kube_internal(name))) continue;
      names.emplace_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::vector<Event> out;
  for (const std::string& name : names) {
    Event e;
    e.kind = EventKind::modify;
    e.time_ns = swap.time_ns;
    e.path = (dir == "/" ? "" : dir) + "/" + name;
    e.reason = "kubernetes volume update";
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace lookout::run
