// DoctorReport: everything `lookout doctor` finds out, as plain data, so gathering (syscalls)
// and printing (text or JSON) stay apart and the advice rules can be read in one place.
// Built once per run on the main thread; not shared.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dir_count.h"
#include "core/fs_kind.h"
#include "sys/container_probe.h"
#include "sys/fanotify_probe.h"
#include "sys/proc_limits.h"

namespace lookout::cmd {

struct MountReport {
  std::string error;  // non-empty: statfs failed on this mount point
  FsKind fs;
  sys::FanotifyProbe fanotify;
  std::uint64_t dirs = 0;        // directories of the walk that lie on this mount
  bool walked = true;            // false: a pseudo filesystem, counted as its root only
  BackendRecommendation choice;  // what auto mode picks for this mount
};

struct PathReport {
  std::string path;       // as given
  std::string real_path;  // realpath(path)
  bool is_dir = true;     // false: a file, watched by one watch and not walked
  std::string error;      // non-empty: the path could not be examined (and nothing else is set)
  MountReport mount;      // the mount holding the path
  std::vector<MountReport> submounts;
  DirCount count;
  std::uint64_t inotify_dirs = 0;  // directories on mounts auto mode watches with inotify
  // A Kubernetes subPath mount: the path is a bind mount of one file from the kubelet's
  // volume-subpaths directory, which the kubelet never updates after the pod started.
  bool kube_subpath = false;
};

struct LimitsReport {
  unsigned uid = 0;
  sys::InotifyLimits limits;
  std::int64_t used_watches = 0;  // by every process of `uid`
  std::int64_t used_instances = 0;
  std::vector<sys::InotifyUsage> top;      // the 3 processes with most watches
  std::int64_t remaining_watches() const;  // -1 when the limit is unknown
};

struct DoctorReport {
  LimitsReport inotify;
  bool cap_sys_admin = false;
  sys::ContainerInfo container;
  std::vector<PathReport> paths;
  std::vector<std::string> advice;
};

// Examines each path (the mount tables, statfs, a fanotify probe, a directory walk) and
// derives the advice.
DoctorReport gather_doctor_report(const std::vector<std::string>& paths);

// The advice lines for a report whose other fields are filled (pure).
std::vector<std::string> make_advice(const DoctorReport& r);

// The value to suggest for fs.inotify.max_user_watches: room for what is used, the trees,
// and as much again for growth, rounded up to a multiple of 8192 (pure).
std::int64_t suggested_max_watches(std::int64_t used, std::uint64_t needed);

void format_doctor_text(const DoctorReport& r, std::string& out);
void format_doctor_json(const DoctorReport& r, std::string& out);  // one object, one line

}  // namespace lookout::cmd
