#include "batch/batcher.h"

#include <algorithm>
#include <utility>

namespace lookout::batch {

namespace {

// What an event says about its path: a change that is done, one still under way (the file
// may be written to further), or nothing to act on.
enum class Says { nothing, writing, complete };

Says what_it_says(const Event& e) {
  switch (e.kind) {
    case EventKind::modify:
      return Says::writing;
    case EventKind::create:
      // A new file is written next (create, modify..., close_write); a directory is done.
      return e.is_dir ? Says::complete : Says::writing;
    case EventKind::close_write:
    case EventKind::attrib:
    case EventKind::remove:
    case EventKind::rename:
    case EventKind::rescan:
    case EventKind::unmount:
      return Says::complete;
    default:  // backend, exists, open, access, close_nowrite, move_self, delete_self
      return Says::nothing;
  }
}

bool same_stamps(const std::optional<EntryStat>& a, const std::optional<EntryStat>& b) {
  if (!a || !b) return !a && !b;
  return a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

}  // namespace

Batcher::Batcher(BatchOptions options, StatFn stat) : opt_(options), stat_(std::move(stat)) {}

void Batcher::add(const Event& e, std::int64_t now_ms) {
  Says says = what_it_says(e);
  if (says == Says::nothing) return;
  if (e.kind == EventKind::rescan) has_rescan_ = true;
  if (e.kind == EventKind::rename && !e.from.empty()) {
    // The old name is gone: what was pending under it now happens under the new one.
    if (auto it = entries_.find(e.from); it != entries_.end()) {
      if (it->second.complete) --complete_count_;
      entries_.erase(it);
    }
  }
  bool complete = says == Says::complete;
  // An attrib (chmod, touch) on a file still being written does not finish the write.
  if (e.kind == EventKind::attrib) {
    if (auto it = entries_.find(e.path); it != entries_.end() && !it->second.complete) complete = false;
  }
  note(e, e.path, complete, now_ms);
}

void Batcher::note(const Event& e, const std::string& path, bool complete, std::int64_t now_ms) {
  auto [it, fresh] = entries_.try_emplace(path);
  Entry& entry = it->second;
  if (fresh) entry.first_order = ++order_;
  auto same_kind = std::find_if(entry.events.begin(), entry.events.end(),
                                [&](const Event& x) { return x.kind == e.kind; });
  if (same_kind != entry.events.end()) {
    *same_kind = e;  // the latest stamps, at the first one's place
  } else {
    entry.events.push_back(e);
  }
  entry.last_ms = now_ms;
  if (!complete) {
    entry.stamps = e.stat ? e.stat : stat_(path);
    if (entry.complete) {
      entry.complete = false;  // written again: not complete until it is done again
      --complete_count_;
    }
    return;
  }
  if (!entry.complete) {
    entry.complete = true;
    ++complete_count_;
  }
  if (first_complete_ms_ == kNever) first_complete_ms_ = now_ms;
  last_complete_ms_ = now_ms;
}

void Batcher::settle(std::int64_t now_ms) {
  for (auto& [path, entry] : entries_) {
    if (entry.complete || now_ms < entry.last_ms + opt_.settle_ms) continue;
    // Quiet for `settle`: complete if its size and mtime have not moved meanwhile (a writer
    // that never closes, a polled filesystem); else wait another `settle`.
    std::optional<EntryStat> now = stat_(path);
    if (!same_stamps(now, entry.stamps)) {
      entry.stamps = now;
      entry.last_ms = now_ms;
      continue;
    }
    entry.complete = true;
    ++complete_count_;
    if (first_complete_ms_ == kNever) first_complete_ms_ = now_ms;
    last_complete_ms_ = now_ms;
  }
}

std::int64_t Batcher::next_due_ms() const {
  std::int64_t due = kNever;
  if (complete_count_ > 0 && !(has_rescan_ && complete_count_ < entries_.size())) {
    due = std::min(last_complete_ms_ + opt_.debounce_ms, first_complete_ms_ + opt_.max_wait_ms);
  }
  if (complete_count_ < entries_.size()) {
    for (const auto& [path, entry] : entries_) {
      if (!entry.complete) due = std::min(due, entry.last_ms + opt_.settle_ms);
    }
    if (complete_count_ > 0) due = std::min(due, first_complete_ms_ + opt_.max_wait_ms);
  }
  return due;
}

std::vector<Event> Batcher::take_due(std::int64_t now_ms) {
  settle(now_ms);
  if (complete_count_ == 0) return {};
  const bool waited_long = now_ms >= first_complete_ms_ + opt_.max_wait_ms;
  if (now_ms < last_complete_ms_ + opt_.debounce_ms && !waited_long) return {};
  if (has_rescan_ && complete_count_ < entries_.size() && !waited_long) return {};
  return take_complete();
}

std::vector<Event> Batcher::take_all() {
  for (auto& [path, entry] : entries_) entry.complete = true;
  complete_count_ = entries_.size();
  return take_complete();
}

std::vector<Event> Batcher::take_complete() {
  std::vector<std::pair<std::uint64_t, std::vector<Event>>> done;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (!it->second.complete) {
      ++it;
      continue;
    }
    done.emplace_back(it->second.first_order, std::move(it->second.events));
    it = entries_.erase(it);
  }
  std::sort(done.begin(), done.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Event> out;
  for (auto& [order, events] : done) {
    for (Event& e : events) out.push_back(std::move(e));
  }
  complete_count_ = 0;
  first_complete_ms_ = last_complete_ms_ = kNever;
  has_rescan_ = false;
  return out;
}

}  // namespace lookout::batch
