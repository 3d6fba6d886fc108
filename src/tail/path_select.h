// PathSelect: which files `lookout tail PATH...` reads. A PATH is a file (that name, also
// once it is created or re-created), a directory (every file under it, narrowed by --match
// and --exclude-glob on the name or the path relative to it) or a glob on the absolute path
// ('*', '?', '[...]' within a name; '**' for any number of directories). It also gives the
// directories the engine must watch: a directory itself, a file's parent, a glob's longest
// literal prefix. Built once at start, then pure and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lookout/result.h"

namespace lookout::tail {

class PathSelect {
 public:
  // Absolute-izes and checks the PATHs: an Error naming the first that does not exist (a
  // file whose directory does not exist, a glob whose literal part does not exist).
  static Result<PathSelect> make(const std::vector<std::string>& paths,
                                 std::vector<std::string> match, std::vector<std::string> exclude);

  bool selected(std::string_view abs_path) const;
  const std::vector<std::string>& roots() const { return roots_; }  // nested ones dropped
  bool recursive() const { return recursive_; }
  // The paths, as resolved: for the state's "from another root" check.
  std::string describe() const;

 private:
  struct Spec {
    enum Kind { file, dir, glob } kind;
    std::string path;  // absolute; for glob the whole pattern
    std::string base;  // glob: its literal directory prefix
  };
  std::vector<Spec> specs_;
  std::vector<std::string> match_, exclude_;
  std::vector<std::string> roots_;
  bool recursive_ = false;
};

// fnmatch-style match of an absolute `path` against `pattern` where '**' as a whole segment
// matches zero or more directories. Pure.
bool glob_match(std::string_view pattern, std::string_view path);
bool has_glob_chars(std::string_view s);

}  // namespace lookout::tail
