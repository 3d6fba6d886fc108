#include "sys/fanotify_probe.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sys/unique_fd.h"

namespace lookout::sys {

bool has_cap_sys_admin() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))) != 0;
}

namespace {
// "EPERM (Operation not permitted)"; glibc's strerrorname_np gives the symbolic name.
std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  std::string s = name ? name : "errno " + std::to_string(err);
  return s + " (" + std::strerror(err) + ")";
}
}  // namespace

std::string fanotify_failure_reason(const std::string& call, int err) {
  std::string r = call + ": " + errno_text(err);
  switch (err) {
    case EPERM:
      r += ": a filesystem mark needs CAP_SYS_ADMIN (run as root to use fanotify)";
      break;
    case EOPNOTSUPP:
      r += ": file handles on this filesystem cannot be decoded, as on overlayfs without "
           "index=on,nfs_export=on";
      break;
    case ENODEV:
      r += ": the filesystem has no fsid, as FUSE mounts do";
      break;
    case EXDEV:
      r += ": the path is inside a btrfs subvolume (a mark on the top-level subvolume sees it)";
      break;
    case EINVAL:
      r += ": the kernel lacks FAN_REPORT_DFID_NAME or FAN_MARK_FILESYSTEM (needs Linux 5.9+)";
      break;
    case ENOSYS:
      r += ": the kernel was built without fanotify";
      break;
    case EMFILE:
      r += ": fs.fanotify.max_user_groups reached";
      break;
    default:
      break;
  }
  return r;
}

FanotifyProbe probe_fanotify(const std::string& path) {
  FanotifyProbe p;
  UniqueFd fd(::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
                              O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    p.sys_errno = errno;
    p.failed_call = "fanotify_init";
  } else if (::fanotify_mark(fd.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE | FAN_ONDIR,
                             AT_FDCWD, path.c_str()) != 0) {
    p.sys_errno = errno;
    p.failed_call = "fanotify_mark";
  } else {
    p.available = true;
    p.reason = "a filesystem mark with FAN_REPORT_DFID_NAME works here";
    return p;
  }
  p.reason = fanotify_failure_reason(p.failed_call, p.sys_errno);
  return p;
}

}  // namespace lookout::sys
