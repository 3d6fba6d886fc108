#include "sync/target_queue.h"

#include <algorithm>
#include <climits>

namespace lookout::sync {

const char* health_name(TargetHealth h) {
  switch (h) {
    case TargetHealth::starting: return "starting";
    case TargetHealth::up: return "up";
    case TargetHealth::retrying: return "retrying";
    case TargetHealth::down: return "down";
  }
  return "?";
}

void TargetQueue::add(const std::string& path, bool quick_check) {
  if (path.empty()) {
    add_full();
    return;
  }
  auto [it, inserted] = paths_.insert(path);
  (void)it;
  if (quick_check && inserted) quick_.insert(path);
  if (!quick_check) quick_.erase(path);
}

void TargetQueue::add_move(DirMove move) { moves_.push_back(std::move(move)); }

void TargetQueue::add_full(bool verify, bool checksum) {
  full_ = true;
  verify_ = verify_ || verify;
  checksum_ = checksum_ || checksum;
}

std::int64_t TargetQueue::next_try_ms() const {
  if (in_flight_ || !has_work()) return INT64_MAX;
  return next_try_ms_;
}

TargetJob TargetQueue::take() {
  job_ = TargetJob{};
  job_paths_.clear();
  if (full_) {
    // A full pass sends the moved content anyway.
    for (const DirMove& m : moves_) paths_.insert(m.content.begin(), m.content.end());
    moves_.clear();
  }
  if (!moves_.empty()) {
    job_.kind = PassKind::move;
    job_.moves = std::move(moves_);
    moves_.clear();
    job_full_ = false;
    for (const DirMove& m : job_.moves) job_paths_.insert(job_paths_.end(), m.content.begin(), m.content.end());
    in_flight_ = true;
    return job_;
  }
  job_full_ = full_;
  if (full_) {
    job_.kind = verify_ ? PassKind::verify : PassKind::full;
    job_.checksum = checksum_;
    job_paths_.push_back("");
    job_paths_.insert(job_paths_.end(), paths_.begin(), paths_.end());
  } else {
    job_.kind = PassKind::incremental;
    job_.paths.assign(paths_.begin(), paths_.end());
    // One list is one rsync: it may skip by stamps only when every path in it may.
    job_.quick_check = !paths_.empty() && quick_.size() == paths_.size();
    job_paths_ = job_.paths;
  }
  paths_.clear();
  quick_.clear();
  full_ = verify_ = checksum_ = false;
  in_flight_ = true;
  return job_;
}

std::vector<std::string> TargetQueue::finish(bool ok, std::int64_t now_ms) {
  in_flight_ = false;
  std::vector<std::string> confirmed;
  if (job_.kind == PassKind::move) {
    if (ok) {
      for (const std::string& p : job_paths_) {
        if (!paths_.count(p)) confirmed.push_back(p);
      }
    } else {
      abandon_job();
    }
    job_paths_.clear();
    return confirmed;
  }
  if (ok) {
    failures_ = 0;
    health_ = TargetHealth::up;
    next_try_ms_ = 0;
    for (const std::string& p : job_paths_) {
      // Changed again while it was being sent: it stays pending (and unconfirmed).
      if (p.empty() ? !full_ : !paths_.count(p)) confirmed.push_back(p);
    }
  } else {
    ++failures_;
    health_ = failures_ >= kDownAfter ? TargetHealth::down : TargetHealth::retrying;
    std::int64_t backoff = 1000;
    for (int i = 1; i < failures_ && backoff < retry_max_ms_; ++i) backoff *= 2;
    next_try_ms_ = now_ms + std::min(backoff, std::max<std::int64_t>(retry_max_ms_, 1000));
    abandon_job();
  }
  job_paths_.clear();
  return confirmed;
}

void TargetQueue::abandon() {
  if (!in_flight_) return;
  in_flight_ = false;
  abandon_job();
  job_paths_.clear();
}

void TargetQueue::abandon_job() {
  if (job_full_) add_full(job_.kind == PassKind::verify, job_.checksum);
  for (const std::string& p : job_paths_) {
    if (p.empty()) continue;
    const bool again = paths_.count(p) != 0;
    paths_.insert(p);
    if (job_.quick_check && !again) quick_.insert(p);
  }
}

std::size_t TargetQueue::pending() const {
  std::size_t n = paths_.size() + (full_ ? 1 : 0);
  for (const DirMove& m : moves_) n += m.content.size() + 1;
  if (in_flight_) n += job_paths_.size();
  return n;
}

std::vector<std::string> TargetQueue::unconfirmed() const {
  std::set<std::string> all(paths_.begin(), paths_.end());
  if (full_) all.insert("");
  for (const DirMove& m : moves_) all.insert(m.content.begin(), m.content.end());
  if (in_flight_) all.insert(job_paths_.begin(), job_paths_.end());
  return {all.begin(), all.end()};
}

}  // namespace lookout::sync
