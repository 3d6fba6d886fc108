#include "sync/batch_paths.h"

#include <algorithm>
#include <filesystem>
#include <set>

namespace lookout::sync {

namespace {
// `rel`: `path` relative to `source` ("" for SOURCE itself); false when it is outside.
bool relative_to(const std::string& path, const std::string& source, std::string& rel) {
  if (path == source) {
    rel.clear();
    return true;
  }
  if (path.size() > source.size() && path.compare(0, source.size(), source) == 0 &&
      (source == "/" || path[source.size()] == '/')) {
    rel = path.substr(source == "/" ? 1 : source.size() + 1);
    return true;
  }
  return false;
}
}  // namespace

BatchPaths batch_paths(const std::vector<Event>& batch, const std::string& source, const ListUnder& list_under) {
  BatchPaths out;
  std::set<std::string> paths;
  std::string rel;
  for (const Event& e : batch) {
    switch (e.kind) {
      case EventKind::rescan:
      case EventKind::unmount:
        if (relative_to(e.path, source, rel) && rel.empty()) out.full = true;
        else if (e.kind == EventKind::unmount && relative_to(e.path, source, rel)) paths.insert(rel);
        break;
      case EventKind::create:
      case EventKind::modify:
      case EventKind::close_write:
      case EventKind::attrib:
      case EventKind::remove:
        if (relative_to(e.path, source, rel) && !rel.empty()) paths.insert(rel);
        break;
      case EventKind::rename:
        if (!e.from.empty() && relative_to(e.from, source, rel) && !rel.empty()) paths.insert(rel);
        if (relative_to(e.path, source, rel) && !rel.empty()) {
          paths.insert(rel);
          if (e.is_dir && list_under) {
            BatchPaths::Move m;
            m.to = rel;
            if (!e.from.empty()) relative_to(e.from, source, m.from);  // stays "" when it came from outside
            m.content = list_under(rel);
            out.moves.push_back(std::move(m));
          }
        }
        break;
      default:
        break;
    }
  }
  out.paths.assign(paths.begin(), paths.end());
  return out;
}

std::vector<std::string> list_under_source(const std::string& source, const std::string& relative_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path root = fs::path(source) / relative_dir;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    out.push_back(relative_dir + "/" + it->path().lexically_relative(root).string());
  }
  return out;
}

}  // namespace lookout::sync
