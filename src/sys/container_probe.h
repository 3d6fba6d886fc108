// Whether this process runs inside a container, and the evidence. Containers matter to
// lookout because inotify limits are set on the host (sysctl inside usually fails) and a
// bind-mounted volume may be written by processes lookout cannot see.
// Reads a few files; thread-safe. The pure helpers are exposed for tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sys/mountinfo.h"

namespace lookout::sys {

struct ContainerInfo {
  bool detected = false;
  std::vector<std::string> evidence;  // e.g. "/.dockerenv exists", "container=podman"
};

// Checks /.dockerenv, /run/.containerenv, /proc/1/cgroup, the fstype of the root mount in
// `mounts` and the `container` environment variable.
ContainerInfo detect_container(const std::vector<MountEntry>& mounts);

// The runtime a /proc/1/cgroup text names ("docker", "kubepods", ...), or empty.
std::string container_hint_from_cgroup(std::string_view cgroup_text);

}  // namespace lookout::sys
