#include "sys/container_probe.h"

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lookout::sys {

std::string container_hint_from_cgroup(std::string_view cgroup_text) {
  static constexpr std::array<std::string_view, 9> kMarkers = {
      "kubepods", "docker", "containerd", "libpod", "crio", "lxc", "podman", "garden", "/ecs/"};
  for (auto marker : kMarkers) {
    if (cgroup_text.find(marker) != std::string_view::npos) {
      std::string_view name = marker;
      if (name == "/ecs/") name = "ecs";
      return std::string(name);
    }
  }
  return {};
}

ContainerInfo detect_container(const std::vector<MountEntry>& mounts) {
  ContainerInfo c;
  auto add = [&](std::string why) {
    c.detected = true;
    c.evidence.push_back(std::move(why));
  };
  if (::access("/.dockerenv", F_OK) == 0) add("/.dockerenv exists");
  if (::access("/run/.containerenv", F_OK) == 0) add("/run/.containerenv exists");
  {
    std::ifstream in("/proc/1/cgroup");
    std::ostringstream text;
    text << in.rdbuf();
    std::string hint = container_hint_from_cgroup(text.str());
    if (!hint.empty()) add("/proc/1/cgroup names " + hint);
  }
  const MountEntry* root = find_mount(mounts, "/");
  if (root && root->fstype == "overlay") add("the root filesystem is overlay");
  if (const char* env = std::getenv("container"); env && *env) {
    add(std::string("container=") + env + " in the environment");
  }
  return c;
}

}  // namespace lookout::sys
