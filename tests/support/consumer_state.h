// The consumer's view of a tree, for tests: a set of paths built from the disk or by
// applying events in order with the README's semantics. Header-only; no engine internals.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "lookout/event.h"

namespace lookout::testing {

using ConsumerState = std::map<std::string, bool>;  // absolute path -> is_dir

inline ConsumerState snapshot(const std::string& root) {
  ConsumerState s;
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    s[it->path().string()] = it->is_directory() && !it->is_symlink();
  }
  return s;
}

inline void apply_event(ConsumerState& s, const Event& e) {
  auto erase_tree = [&](const std::string& p) {
    for (auto it = s.begin(); it != s.end();) {
      it = (it->first == p || it->first.rfind(p + "/", 0) == 0) ? s.erase(it) : std::next(it);
    }
  };
  if (e.kind == EventKind::create) s[e.path] = e.is_dir;
  if (e.kind == EventKind::remove) erase_tree(e.path);
  if (e.kind == EventKind::rename) {
    ConsumerState moved;
    for (auto& [p, d] : s) {
      if (p == e.from) moved[e.path] = d;
      else if (p.rfind(e.from + "/", 0) == 0) moved[e.path + p.substr(e.from.size())] = d;
    }
    erase_tree(e.from);
    erase_tree(e.path);
    s.insert(moved.begin(), moved.end());
  }
}

// "missing P" / "extra P" lines; empty when equal.
inline std::string diff_states(const ConsumerState& want, const ConsumerState& got) {
  std::string out;
  for (auto& [p, d] : want)
    if (!got.count(p)) out += "missing " + p + "\n";
  for (auto& [p, d] : got)
    if (!want.count(p)) out += "extra " + p + "\n";
  return out;
}

}  // namespace lookout::testing
