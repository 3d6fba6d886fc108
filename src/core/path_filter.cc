#include "core/path_filter.h"

#include <fnmatch.h>

namespace lookout::core {

namespace {
bool compile(const std::string& pattern, int flags, std::vector<regex_t>& out, Error& err) {
  regex_t re;
  int rc = ::regcomp(&re, pattern.c_str(), REG_EXTENDED | REG_NOSUB | flags);
  if (rc != 0) {
    char buf[256];
    ::regerror(rc, &re, buf, sizeof buf);
    err = Error{ErrorCode::invalid_argument, 0, pattern,
                "invalid regular expression '" + pattern + "': " + buf};
    return false;
  }
  out.push_back(re);
  return true;
}

bool matches(const regex_t& re, std::string_view path) {
  std::string s(path);  // regexec needs a NUL-terminated string
  return ::regexec(&re, s.c_str(), 0, nullptr, 0) == 0;
}
}  // namespace

Result<std::shared_ptr<PathFilter>> PathFilter::create(const FilterSpec& spec) {
  std::shared_ptr<PathFilter> f(new PathFilter());
  Error err;
  for (auto& p : spec.exclude_regex)
    if (!compile(p, 0, f->exclude_, err)) return err;
  for (auto& p : spec.exclude_regex_icase)
    if (!compile(p, REG_ICASE, f->exclude_, err)) return err;
  for (auto& p : spec.include_regex)
    if (!compile(p, 0, f->include_, err)) return err;
  for (auto& p : spec.include_regex_icase)
    if (!compile(p, REG_ICASE, f->include_, err)) return err;
  f->globs_ = spec.exclude_globs;
  for (auto p : spec.exclude_paths) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    f->paths_.push_back(p);
  }
  f->empty_ = f->exclude_.empty() && f->include_.empty() && f->globs_.empty() && f->paths_.empty();
  return f;
}

PathFilter::~PathFilter() {
  for (auto& r : exclude_) ::regfree(&r);
  for (auto& r : include_) ::regfree(&r);
}

bool PathFilter::excluded(std::string_view path, std::string_view root) const {
  for (const auto& p : paths_) {
    if (path.size() >= p.size() && path.compare(0, p.size(), p) == 0 &&
        (path.size() == p.size() || path[p.size()] == '/')) {
      return true;
    }
  }
  for (const auto& re : exclude_)
    if (matches(re, path)) return true;
  if (!globs_.empty()) {
    std::string_view rel = path;
    if (rel.size() > root.size() && rel.compare(0, root.size(), root) == 0) {
      rel.remove_prefix(root.size());
      while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    }
    std::string rel_s(rel);
    std::string base(path.substr(path.rfind('/') + 1));
    for (const auto& g : globs_) {
      if (::fnmatch(g.c_str(), rel_s.c_str(), 0) == 0) return true;
      if (::fnmatch(g.c_str(), base.c_str(), 0) == 0) return true;
    }
  }
  return false;
}

bool PathFilter::reportable(std::string_view path, std::string_view root) const {
  if (empty_) return true;
  if (excluded(path, root)) return false;
  if (include_.empty()) return true;
  for (const auto& re : include_)
    if (matches(re, path)) return true;
  return false;
}

}  // namespace lookout::core
