// Why a test that needs fanotify cannot run here, as the reason for its GTEST_SKIP: a
// filesystem mark needs root (CAP_SYS_ADMIN), and the kernel and the filesystem under the
// test's directory must take one (sys::probe_fanotify). One wording for every suite that has
// fanotify rows. Header-only; safe from any thread.
#pragma once

#include <unistd.h>

#include <string>

#include "sys/fanotify_probe.h"

namespace lookout::testing {

// Empty when fanotify can be used on `dir`; else the skip reason.
inline std::string fanotify_unavailable(const std::string& dir) {
  if (::geteuid() != 0) return "a fanotify filesystem mark needs root (CAP_SYS_ADMIN)";
  sys::FanotifyProbe p = sys::probe_fanotify(dir);
  return p.available ? "" : "fanotify is not usable on " + dir + ": " + p.reason;
}

}  // namespace lookout::testing
