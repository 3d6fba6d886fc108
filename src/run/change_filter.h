// ChangeFilter: which changes `run` acts on, judged before debounce. --match globs (fnmatch on
// the name or on the path relative to its root; none given: every name), and by default the
// noise editors and version control make: vim's swap files and its "4913" write probe,
// backups ending in "~", emacs' "#name#" and ".#name" locks, and anything inside ".git",
// ".hg" or ".svn". Kubernetes AtomicWriter names ("..<timestamp>", "..data") are hidden in
// the volumes that have them (see kube_volume.h). One thread.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lookout::run {

class ChangeFilter {
 public:
  ChangeFilter(std::vector<std::string> roots, std::vector<std::string> match, bool default_ignores);
  // True when a change at `path` (absolute) is to be acted on.
  bool wanted(const std::string& path);

 private:
  std::string relative(const std::string& path) const;
  bool in_kube_volume(const std::string& dir);

  std::vector<std::string> roots_;
  std::vector<std::string> match_;
  bool default_ignores_;
  std::unordered_map<std::string, bool> kube_dirs_;  // dir -> has "..data", looked up once
};

// True for a name editors and VCS write on their own (see above).
bool is_editor_noise(std::string_view name);
// True for a path with a ".git", ".hg" or ".svn" component.
bool is_in_vcs_dir(std::string_view path);

}  // namespace lookout::run
