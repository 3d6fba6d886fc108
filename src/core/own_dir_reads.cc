#include "core/own_dir_reads.h"

#include <fcntl.h>

namespace lookout::core {

int OwnDirReads::open_dir(const char* path, int flags) {
  const int fd = inner_.open_dir(path, flags);
  if (fd < 0) return fd;
  if ((flags & O_PATH) && inner_.path_opens_silent()) return fd;
  const std::int64_t now = clock_.monotonic_ms();
  std::lock_guard lock(mu_);
  if (now - last_sweep_ms_ > kForgetAfterMs) {
    // Listings of directories that were not watched (a polled mount, a directory listed
    // before its watch) never see their records: drop them now and then.
    last_sweep_ms_ = now;
    for (auto it = by_path_.begin(); it != by_path_.end();) {
      forget_old(it->second, now);
      it = it->second.opened_ms.empty() && it->second.reading == 0 ? by_path_.erase(it) : std::next(it);
    }
  }
  Listings& l = by_path_[path];
  forget_old(l, now);
  l.opened_ms.push_back(now);
  return fd;
}

void OwnDirReads::forget_old(Listings& l, std::int64_t now) const {
  while (!l.opened_ms.empty() && now - l.opened_ms.front() > kForgetAfterMs) l.opened_ms.pop_front();
  // A CLOSE_NOWRITE merged by the kernel into another reader's identical one never comes.
  if (l.reading > 0 && now - l.reading_since_ms > kForgetAfterMs) l.reading = 0;
}

bool OwnDirReads::own(EventKind kind, const std::string& path) {
  std::lock_guard lock(mu_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return false;
  Listings& l = it->second;
  const std::int64_t now = clock_.monotonic_ms();
  forget_old(l, now);
  bool mine = false;
  switch (kind) {
    case EventKind::open: {
      if (!l.opened_ms.empty()) {
        l.opened_ms.pop_front();
        ++l.reading;
        l.reading_since_ms = now;
        mine = true;
      }
      break;
    }
    case EventKind::access:
      mine = l.reading > 0;
      break;
    case EventKind::close_nowrite:
      if (l.reading > 0) {
        --l.reading;
        mine = true;
      }
      break;
    default:
      break;
  }
  if (l.opened_ms.empty() && l.reading == 0) by_path_.erase(it);
  return mine;
}

std::size_t OwnDirReads::pending() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [path, l] : by_path_) n += l.opened_ms.size() + static_cast<std::size_t>(l.reading);
  return n;
}

}  // namespace lookout::core
