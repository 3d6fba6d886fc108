#include "core/event_log.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

namespace lookout::core {

EventLog::EventLog(std::size_t max_pending)
    : max_pending_(max_pending), resume_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

void EventLog::append(Event e) {
  std::lock_guard lock(mu_);
  bool coalescable = e.kind == EventKind::modify || e.kind == EventKind::attrib ||
                     e.kind == EventKind::access;
  if (coalescable) {
    auto it = last_for_path_.find(e.path);
    if (it != last_for_path_.end() && it->second.first >= first_pending_seq_ &&
        it->second.second == e.kind) {
      ++coalesced_;
      return;
    }
  }
  e.seq = next_seq_++;
  last_for_path_[e.path] = {e.seq, e.kind};
  bool was_empty = pending_.empty();
  pending_.push_back(std::move(e));
  if (pending_.size() >= max_pending_) paused_ = true;
  if (was_empty) cv_.notify_one();
}

bool EventLog::over_limit() const {
  std::lock_guard lock(mu_);
  return paused_;
}

void EventLog::clear_resume() {
  std::uint64_t v;
  [[maybe_unused]] auto n = ::read(resume_fd_.get(), &v, sizeof v);
}

bool EventLog::take(std::vector<Event>& out, int timeout_ms) {
  std::unique_lock lock(mu_);
  auto ready = [&] { return !pending_.empty() || closed_; };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
    return true;
  }
  if (pending_.empty()) return !closed_;
  for (auto& e : pending_) out.push_back(std::move(e));
  pending_.clear();
  first_pending_seq_ = next_seq_;
  // Coalescing state only matters for events still pending; dropping it bounds memory.
  last_for_path_.clear();
  if (paused_) {
    paused_ = false;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(resume_fd_.get(), &one, sizeof one);
  }
  return true;
}

void EventLog::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

std::uint64_t EventLog::appended() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

std::uint64_t EventLog::coalesced() const {
  std::lock_guard lock(mu_);
  return coalesced_;
}

}  // namespace lookout::core
