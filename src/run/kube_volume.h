// Kubernetes volumes written by the kubelet's AtomicWriter (ConfigMap, Secret, projected,
// downward API): the user-visible names are symlinks through "..data", itself a symlink to
// a "..<timestamp>" directory. An update writes a new "..<timestamp>" directory, points
// "..data_tmp" at it, renames "..data_tmp" over "..data" (the one atomic step) and removes
// the old directory. The visible names never change themselves. So `run` hides every name
// starting with ".." and, when "..data" is replaced, reports each visible name of that
// directory as modified: one update, one action, after the swap, with the user's names.
// (A subPath mount is a bind of one file at the time the pod started: it never updates, a
// kubelet limitation no watcher can work around.) Pure apart from listing the directory.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lookout/event.h"

namespace lookout::run {

inline constexpr std::string_view kKubeDataLink = "..data";

// True when `dir` holds a "..data" symlink (the AtomicWriter layout).
bool is_kube_volume(const std::string& dir);

// True for a path whose last component starts with ".." (and is not ".."): the writer's
// own names, hidden from the user.
bool is_kube_internal(std::string_view path);

// For an event that replaced `<dir>/..data` (its rename or create): one `modify` per visible
// name in `dir`, with the time of `swap`. Empty for any other event.
std::vector<Event> kube_update(const Event& swap);

}  // namespace lookout::run
