// WatcherSeams: what a Watcher::Impl takes from outside instead of calling the OS directly,
// so unit tests can drive step() without a kernel, a filesystem or real time. Every field
// left null means the real thing. Whoever makes the Impl owns the seams and keeps them
// alive as long as the watcher.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "backend/fanotify_backend.h"

namespace lookout::sys {
class Clock;
class Fs;
class InotifyCalls;
class Waiter;
}

namespace lookout::core {

struct WatcherSeams {
  sys::Clock* clock = nullptr;           // null: sys::system_clock()
  sys::Fs* fs = nullptr;                 // null: sys::real_fs() (stat, open, getdents64)
  sys::InotifyCalls* inotify = nullptr;  // null: sys::real_inotify_calls()
  sys::Waiter* waiter = nullptr;         // null: sys::real_waiter() (poll(2), nanosleep)
  // Opens a fanotify group for marks asking for `mask`; empty: FanotifyBackend::open.
  std::function<Result<std::unique_ptr<backend::Fanotify>>(std::uint64_t mask)> fanotify;
  // Whether this process may use fanotify (auto mode tries it on a large tree); empty:
  // sys::has_cap_sys_admin().
  std::function<bool()> may_use_fanotify;
};

}  // namespace lookout::core
