// Whether a fanotify filesystem mark with directory-entry events can be placed on a path:
// the one capability check plus two syscalls the auto backend choice depends on.
// The probe's fanotify fd is closed before returning, which removes the mark.
// Thread-safe (no shared state).
#pragma once

#include <string>

namespace lookout::sys {

// CAP_SYS_ADMIN (bit 21) in this thread's effective set, by capget(2).
bool has_cap_sys_admin();

struct FanotifyProbe {
  bool available = false;
  int sys_errno = 0;        // errno of the call that failed; 0 when available
  std::string failed_call;  // "fanotify_init" or "fanotify_mark"; empty when available
  std::string reason;       // one line for a human: what failed, why, and what would help
};

// fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME) then
// fanotify_mark(FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE | FAN_ONDIR, AT_FDCWD, path).
// Known failures (measured: docs/kernel-facts.md#fanotify-mark-failures): EOPNOTSUPP on overlay
// (handles cannot be decoded), ENODEV on FUSE (fsid 0), EXDEV on a btrfs subvolume, EPERM without
// CAP_SYS_ADMIN.
FanotifyProbe probe_fanotify(const std::string& path);

// The `reason` text probe_fanotify gives for `err` from `call` (pure; exposed for tests).
std::string fanotify_failure_reason(const std::string& call, int err);

}  // namespace lookout::sys
