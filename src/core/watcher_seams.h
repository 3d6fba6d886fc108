// WatcherSeams: what a Watcher::Impl takes from outside instead of calling the OS directly,
// so unit tests can drive step() without a kernel, a filesystem or real time. Every field
// left null means the real thing. Whoever makes the Impl owns the seams and keeps them
// alive as long as the watcher.
#pragma once

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
};

}  // namespace lookout::core
