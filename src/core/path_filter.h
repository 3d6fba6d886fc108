// PathFilter: which paths lookout reports and which directories it watches at all.
// inotifywait's semantics: --exclude/--include are POSIX extended regexes matched against the
// full path (--excludei/--includei ignore case); `@path` excludes a path and its subtree.
// lookout adds glob excludes (fnmatch on the path relative to its root, and on the base name).
// An excluded directory gets no watch and is never scanned; --include only filters output.
// Immutable after construction; thread-safe for reads.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lookout/result.h"

namespace lookout::core {

struct FilterSpec {
  std::vector<std::string> exclude_regex;
  std::vector<std::string> exclude_regex_icase;
  std::vector<std::string> include_regex;
  std::vector<std::string> include_regex_icase;
  std::vector<std::string> exclude_globs;
  std::vector<std::string> exclude_paths;  // absolute, from @path
};

class PathFilter {
 public:
  static Result<std::shared_ptr<PathFilter>> create(const FilterSpec& spec);
  ~PathFilter();
  PathFilter(const PathFilter&) = delete;
  PathFilter& operator=(const PathFilter&) = delete;

  // True when the entry must not be watched or reported (nor its subtree).
  bool excluded(std::string_view path, std::string_view root) const;
  // True when an event on `path` may be reported (include filters pass, not excluded).
  bool reportable(std::string_view path, std::string_view root) const;
  bool empty() const { return empty_; }

 private:
  PathFilter() = default;
  std::vector<regex_t> exclude_, include_;
  std::vector<std::string> globs_;
  std::vector<std::string> paths_;
  bool empty_ = true;
};

}  // namespace lookout::core
