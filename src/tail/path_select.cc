#include "tail/path_select.h"
#include "sys/path_text.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace lookout::tail {

namespace {
namespace fs = std::filesystem;


std::vector<std::string_view> segments(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t b = 0;
  while (b < p.size()) {
    std::size_t e = p.find('/', b);
    if (e == std::string_view::npos) e = p.size();
    if (e > b) out.push_back(p.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

bool seg_match(std::string_view pat, std::string_view name) {
  return ::fnmatch(std::string(pat).c_str(), std::string(name).c_str(), 0) == 0;
}

bool match_from(const std::vector<std::string_view>& pat, std::size_t pi,
                const std::vector<std::string_view>& path, std::size_t si) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      for (std::size_t k = si; k <= path.size(); ++k) {
        if (match_from(pat, pi + 1, path, k)) return true;
      }
      return false;
    }
    if (si >= path.size() || !seg_match(pat[pi], path[si])) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

bool inside(std::string_view path, std::string_view dir) {
  if (dir == "/") return path.size() > 1;
  return path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/';
}

std::string_view base_name(std::string_view p) {
  std::size_t s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}

// A --match/--exclude-glob pattern: on the name, or on the path relative to the directory
// when it has a slash ('**' allowed there).
bool filter_match(const std::string& pat, std::string_view rel) {
  if (pat.find('/') == std::string::npos) return seg_match(pat, base_name(rel));
  std::string p(1, '/'), r(1, '/');  // appended, not "/" + s: GCC 12's -Wrestrict false positive
  p += pat;
  r += rel;
  return glob_match(p, r);
}
}  // namespace

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_from(segments(pattern), 0, segments(path), 0);
}

Result<PathSelect> PathSelect::make(const std::vector<std::string>& paths,
                                    std::vector<std::string> match,
                                    std::vector<std::string> exclude) {
  PathSelect s;
  s.match_ = std::move(match);
  s.exclude_ = std::move(exclude);
  if (paths.empty()) return Error{ErrorCode::invalid_argument, 0, "", "no PATH to read was given"};
  std::vector<std::string> roots;
  for (const std::string& given : paths) {
    if (given.empty()) return Error{ErrorCode::invalid_argument, 0, "", "an empty PATH"};
    std::string abs = sys::absolute_path(given);
    struct stat st;
    if (has_glob_chars(given) && ::stat(abs.c_str(), &st) != 0) {
      // The literal directories before the first segment with a glob character.
      std::string base;
      for (std::string_view seg : segments(abs)) {
        if (has_glob_chars(seg)) break;
        base += "/";
        base += seg;
      }
      if (base.empty()) base = "/";
      if (::stat(base.c_str(), &st) != 0) return error_from_errno(errno, "cannot read", base);
      if (!S_ISDIR(st.st_mode))
        return Error{ErrorCode::not_a_directory, ENOTDIR, base,
                     std::string("cannot read ") + base + ": not a directory"};
      std::string rest = abs.substr(base == "/" ? 1 : base.size() + 1);
      if (rest.find('/') != std::string::npos || rest.find("**") != std::string::npos)
        s.recursive_ = true;
      s.specs_.push_back({Spec::glob, abs, base});
      roots.push_back(base);
      continue;
    }
    if (::stat(abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      s.specs_.push_back({Spec::dir, abs, abs});
      s.recursive_ = true;
      roots.push_back(abs);
      continue;
    }
    if (::stat(abs.c_str(), &st) != 0 && errno != ENOENT)
      return error_from_errno(errno, "cannot read", abs);
    // A file (present or not yet): its directory is watched, so that it is found when it
    // is created and followed across rotation.
    std::string parent = fs::path(abs).parent_path().string();
    if (parent.empty()) parent = "/";
    struct stat ps;
    if (::stat(parent.c_str(), &ps) != 0) return error_from_errno(errno, "cannot read", abs);
    if (!S_ISDIR(ps.st_mode))
      return Error{
          ErrorCode::not_a_directory, ENOTDIR, parent,
          std::string("cannot read ") + abs + std::string(": ") + parent + " is not a directory"};
    if (::stat(abs.c_str(), &st) != 0) {
      return error_from_errno(ENOENT, "cannot read", abs,
                              "it must exist at start; give its directory to wait for it");
    }
    s.specs_.push_back({Spec::file, abs, parent});
    roots.push_back(parent);
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  for (const std::string& r : roots) {
    bool nested = false;
    for (const std::string& o : roots) {
      if (inside(r, o) && s.recursive_) nested = true;
    }
    if (!nested) s.roots_.push_back(r);
  }
  return s;
}

bool PathSelect::selected(std::string_view p) const {
  for (const Spec& s : specs_) {
    switch (s.kind) {
      case Spec::file:
        if (p == s.path) return true;
        break;
      case Spec::glob:
        if (glob_match(s.path, p)) {
          std::string_view rel = p.substr(std::min(p.size(), s.base.size() + 1));
          bool excluded = std::any_of(exclude_.begin(), exclude_.end(),
                                      [&](const std::string& g) { return filter_match(g, rel); });
          if (!excluded) return true;
        }
        break;
      case Spec::dir: {
        if (!inside(p, s.path)) break;
        std::string_view rel = p.substr(s.path == "/" ? 1 : s.path.size() + 1);
        bool excluded = std::any_of(exclude_.begin(), exclude_.end(),
                                    [&](const std::string& g) { return filter_match(g, rel); });
        bool matched = match_.empty() ||
                       std::any_of(match_.begin(), match_.end(),
                                   [&](const std::string& g) { return filter_match(g, rel); });
        if (matched && !excluded) return true;
        break;
      }
    }
  }
  return false;
}

std::string PathSelect::describe() const {
  std::string d;
  for (const Spec& s : specs_) {
    if (!d.empty()) d += '\n';
    d += s.path;
  }
  return d;
}

}  // namespace lookout::tail
