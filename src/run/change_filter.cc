#include "run/change_filter.h"

#include <fnmatch.h>

#include <utility>

#include "run/kube_volume.h"

namespace lookout::run {

namespace {
std::string_view name_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

bool is_editor_noise(std::string_view name) {
  if (name == "4913") return true;  // vim checks it may write the directory with this name
  if (ends_with(name, "~")) return true;
  if (name.size() > 1 && name[0] == '.' &&
      (ends_with(name, ".swp") || ends_with(name, ".swx") || ends_with(name, ".swo"))) {
    return true;
  }
  if (name.size() > 2 && name.front() == '#' && name.back() == '#') return true;  // emacs autosave
  if (name.substr(0, 2) == ".#") return true;                                     // emacs lock
  return false;
}

bool is_in_vcs_dir(std::string_view path) {
  for (std::string_view dir : {"/.git", "/.hg", "/.svn"}) {
    for (std::size_t pos = path.find(dir); pos != std::string_view::npos; pos = path.find(dir, pos + 1)) {
      std::size_t end = pos + dir.size();
      if (end == path.size() || path[end] == '/') return true;
    }
  }
  return false;
}

ChangeFilter::ChangeFilter(std::vector<std::string> roots, std::vector<std::string> match, bool default_ignores)
    : roots_(std::move(roots)), match_(std::move(match)), default_ignores_(default_ignores) {}

std::string ChangeFilter::relative(const std::string& path) const {
  for (const std::string& r : roots_) {
    if (path.size() > r.size() && path.compare(0, r.size(), r) == 0 && path[r.size()] == '/') {
      return path.substr(r.size() + 1);
    }
  }
  return path;
}

bool ChangeFilter::in_kube_volume(const std::string& dir) {
  auto [it, fresh] = kube_dirs_.try_emplace(dir, false);
  if (fresh) it->second = is_kube_volume(dir);
  return it->second;
}

bool ChangeFilter::wanted(const std::string& path) {
  if (path.empty()) return true;  // a rescan of everything
  const std::string_view name = name_of(path);
  // The writer's own names, and whatever is inside its "..<timestamp>" directories.
  for (std::size_t slash = path.find("/.."); slash != std::string::npos; slash = path.find("/..", slash + 1)) {
    std::size_t end = path.find('/', slash + 1);
    std::string_view component = std::string_view(path).substr(slash + 1, end == std::string::npos ? end : end - slash - 1);
    if (is_kube_internal(component) && in_kube_volume(slash == 0 ? "/" : path.substr(0, slash))) return false;
  }
  if (default_ignores_ && (is_editor_noise(name) || is_in_vcs_dir(path))) return false;
  if (match_.empty()) return true;
  const std::string name_s(name);
  const std::string rel = relative(path);
  for (const std::string& g : match_) {
    if (::fnmatch(g.c_str(), name_s.c_str(), 0) == 0) return true;
    if (::fnmatch(g.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

}  // namespace lookout::run
