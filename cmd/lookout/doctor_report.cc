// Gathering and advice for `lookout doctor` (see doctor_report.h).
#include "doctor_report.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "sys/mountinfo.h"

namespace lookout::cmd {

namespace {

MountReport examine_mount(const std::string& path, const std::vector<sys::MountEntry>& mounts) {
  MountReport m;
  auto fs = classify_path(sys::real_fs(), path, mounts);
  if (!fs) {
    m.error = fs.error().message;
    return m;
  }
  m.fs = std::move(*fs);
  m.fanotify = sys::probe_fanotify(path);
  return m;
}

LimitsReport read_limits() {
  LimitsReport l;
  l.uid = ::geteuid();
  l.limits = sys::read_inotify_limits();
  auto usage = sys::read_inotify_usage(l.uid);
  for (const auto& u : usage) {
    l.used_watches += u.watches;
    l.used_instances += u.instances;
  }
  std::sort(usage.begin(), usage.end(), [](const sys::InotifyUsage& a, const sys::InotifyUsage& b) {
    return a.watches != b.watches ? a.watches > b.watches : a.pid < b.pid;
  });
  if (usage.size() > 3) usage.resize(3);
  l.top = std::move(usage);
  return l;
}

}  // namespace

std::int64_t LimitsReport::remaining_watches() const {
  if (limits.max_user_watches < 0) return -1;
  return std::max<std::int64_t>(0, limits.max_user_watches - used_watches);
}

std::int64_t suggested_max_watches(std::int64_t used, std::uint64_t needed) {
  std::int64_t want = used + 2 * static_cast<std::int64_t>(needed);
  constexpr std::int64_t kStep = 8192;
  return std::max<std::int64_t>(kStep, (want + kStep - 1) / kStep * kStep);
}

DoctorReport gather_doctor_report(const std::vector<std::string>& paths) {
  DoctorReport r;
  r.inotify = read_limits();
  r.cap_sys_admin = sys::has_cap_sys_admin();
  auto mounts_read = sys::read_mountinfo();
  std::vector<sys::MountEntry> mounts;
  if (mounts_read) mounts = std::move(*mounts_read);
  r.container = sys::detect_container(mounts);

  for (const auto& path : paths) {
    PathReport p;
    p.path = path;
    struct stat st;
    char real[PATH_MAX];
    if (::stat(path.c_str(), &st) != 0 || !::realpath(path.c_str(), real)) {
      p.error = fmt::format("{}: {}", path, std::strerror(errno));
      r.paths.push_back(std::move(p));
      continue;
    }
    p.real_path = real;
    p.is_dir = S_ISDIR(st.st_mode);
    p.mount = examine_mount(p.real_path, mounts);
    if (const sys::MountEntry* m = sys::find_mount(mounts, p.real_path);
        m && m->mount_point == p.real_path && m->root.find("/volume-subpaths/") != std::string::npos) {
      p.kube_subpath = true;
    }
    std::vector<std::string> region_roots;
    std::vector<std::string> prune;
    if (S_ISDIR(st.st_mode)) {
      for (const sys::MountEntry* sub : sys::find_submounts(mounts, p.real_path)) {
        p.submounts.push_back(examine_mount(sub->mount_point, mounts));
        region_roots.push_back(sub->mount_point);
        // /proc and /sys are large, generated, and raise no events: not worth a walk.
        if (p.submounts.back().fs.is_pseudo) {
          p.submounts.back().walked = false;
          prune.push_back(sub->mount_point);
        }
      }
      p.count = count_dirs(p.real_path, kDirCountLimit, region_roots, prune);
    } else {
      p.count.per_region.assign(1, 0);  // a file needs one watch on itself, no walk
      p.count.dirs = 0;
    }
    p.mount.dirs = p.count.per_region[0];
    if (p.mount.error.empty()) {
      p.mount.choice = choose_backend(p.mount.fs, r.cap_sys_admin, p.mount.fanotify, p.mount.dirs);
    }
    if (p.mount.choice.backend == BackendKind::inotify) p.inotify_dirs += p.mount.dirs;
    for (std::size_t i = 0; i < p.submounts.size(); ++i) {
      auto& sub = p.submounts[i];
      sub.dirs = p.count.per_region[i + 1];
      if (!sub.error.empty()) continue;
      sub.choice = choose_backend(sub.fs, r.cap_sys_admin, sub.fanotify, sub.dirs);
      if (sub.choice.backend == BackendKind::inotify) p.inotify_dirs += sub.dirs;
    }
    if (!S_ISDIR(st.st_mode)) p.inotify_dirs = 1;
    r.paths.push_back(std::move(p));
  }
  r.advice = make_advice(r);
  return r;
}

std::vector<std::string> make_advice(const DoctorReport& r) {
  std::vector<std::string> out;
  const auto& lim = r.inotify.limits;
  std::uint64_t needed = 0;
  bool truncated = false;
  std::uint64_t fanotify_candidates = 0;
  for (const auto& p : r.paths) {
    if (!p.error.empty()) continue;
    if (p.kube_subpath) {
      out.push_back(fmt::format(
          "{} is a Kubernetes subPath mount: the kubelet never updates it when its ConfigMap or "
          "Secret changes (a kubelet limitation), so no watcher will see a change; mount the "
          "volume as a directory and watch the file inside it",
          p.path));
    }
    needed += p.inotify_dirs;
    truncated |= p.count.truncated;
    if (p.count.truncated) {
      out.push_back(fmt::format(
          "{} holds more than {} directories (the count stopped there): exclude generated "
          "trees (build output, node_modules, caches) or watch a smaller root",
          p.path, kDirCountLimit));
    }
    std::vector<const MountReport*> all{&p.mount};
    for (const auto& s : p.submounts) all.push_back(&s);
    std::vector<std::string> excludes;  // top-most pseudo submounts
    for (const MountReport* m : all) {
      if (!m->error.empty()) continue;
      const std::string& where = m->fs.mount_point.empty() ? p.real_path : m->fs.mount_point;
      const std::string& type = m->fs.fs_type;
      if (m->fs.is_pseudo) {
        if (m == &p.mount) {
          out.push_back(
              fmt::format("{} is on {} (generated content, no events): only polling "
                          "can follow it; use --poll",
                          p.path, type));
        } else if (std::none_of(excludes.begin(), excludes.end(), [&](const std::string& e) {
                     return sys::path_is_under(where, e);
                   })) {
          excludes.push_back(where);  // submounts come sorted, parents first
        }
      } else if (m->fs.is_fuse) {
        out.push_back(fmt::format(
            "use --poll on this {} mount ({}): inotify misses changes made behind the FUSE "
            "daemon, and polls lag by its ~1 s attribute cache{}",
            type, where,
            m->fs.is_remote ? "" : "; if the backing directory is local, watch it instead"));
      } else if (m->fs.is_remote) {
        out.push_back(fmt::format(
            "use --poll on this {} mount ({}): inotify only sees changes made by this machine",
            type, where));
      } else if (m->fs.is_unknown) {
        out.push_back(fmt::format(
            "{} is a filesystem lookout does not know ({}): it is watched with inotify as if "
            "local; use --poll if changes go unreported",
            where, type));
      } else if (m->fs.is_overlay) {
        out.push_back(fmt::format(
            "{} is overlayfs: inotify is right for writes through it; if anything writes into "
            "its layers directly (an image rebuild, another container sharing the lower dir), "
            "add --poll",
            where));
      }
      if (m->choice.backend == BackendKind::inotify && m->dirs >= kFanotifyMinDirs) {
        fanotify_candidates += m->dirs;
      }
    }
    if (!excludes.empty()) {
      std::string cmd = "lookout watch -r " + p.path;
      for (const auto& e : excludes) cmd += " @" + e;
      out.push_back(
          fmt::format("exclude the pseudo filesystems under {} (generated content, "
                      "no events): {}",
                      p.path, cmd));
    }
  }

  // The watch budget.
  const std::int64_t remaining = r.inotify.remaining_watches();
  const bool userns_knob = lim.watches_knob.rfind("user.", 0) == 0;
  if (remaining >= 0 && needed > 0) {
    const auto need = static_cast<std::int64_t>(needed);
    const std::string at_least = truncated ? "at least " : "";
    if (need > remaining || need * 2 > remaining) {
      std::int64_t target = suggested_max_watches(r.inotify.used_watches, needed);
      out.push_back(fmt::format(
          "{}: a recursive watch needs {}{} inotify watches and {} are left ({}={}, {} in use "
          "by uid {}); raise the limit: sysctl -w {}={}",
          need > remaining ? "too few inotify watches" : "inotify watches are tight", at_least,
          needed, remaining, lim.watches_knob, lim.max_user_watches, r.inotify.used_watches,
          r.inotify.uid, lim.watches_knob, target));
      if (userns_knob) {
        // Per user namespace (docs/kernel-facts.md#inotify-limits): its creator sets it; the host's
        // limit still applies.
        out.push_back(fmt::format(
            "user.max_inotify_watches belongs to this user namespace: set it as the namespace's "
            "root (or in the container runtime), and keep the host's "
            "fs.inotify.max_user_watches at least {}",
            target));
      } else {
        out.push_back(fmt::format(
            "to keep it across reboots: echo '{}={}' > /etc/sysctl.d/90-lookout.conf && "
            "sysctl --system",
            lim.watches_knob, target));
      }
      if (r.container.detected && !userns_knob) {
        out.push_back(
            "this runs in a container: fs.inotify limits belong to the host kernel "
            "and are shared with it, so run the sysctl on the host");
      }
    } else {
      out.push_back(fmt::format("watch budget is fine: {}{} watches needed, {} left", at_least,
                                needed, remaining));
    }
  }
  if (lim.max_user_instances >= 0 && r.inotify.used_instances + 1 >= lim.max_user_instances) {
    out.push_back(
        fmt::format("inotify instances are nearly used up ({} of {} for uid {}): sysctl -w "
                    "fs.inotify.max_user_instances={}",
                    r.inotify.used_instances, lim.max_user_instances, r.inotify.uid,
                    std::max<std::int64_t>(128, lim.max_user_instances * 2)));
  }
  if (lim.max_queued_events >= 0 && lim.max_queued_events < 16384) {
    out.push_back(fmt::format(
        "fs.inotify.max_queued_events={} is below the default 16384: bursts will overflow "
        "the queue and force rescans; sysctl -w fs.inotify.max_queued_events=16384",
        lim.max_queued_events));
  }
  if (fanotify_candidates > 0 && !r.cap_sys_admin) {
    out.push_back(fmt::format(
        "{} directories need one inotify watch each; run as root (CAP_SYS_ADMIN) and lookout "
        "can use one fanotify filesystem mark instead",
        fanotify_candidates));
  }
  return out;
}

}  // namespace lookout::cmd
