#include "ingest/completion_tracker.h"

#include <algorithm>
#include <climits>

namespace lookout::ingest {

namespace {
bool same_stamps(const std::optional<EntryStat>& a, const std::optional<EntryStat>& b) {
  if (!a || !b) return !a && !b;
  return a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}
bool at_or_below(const std::string& path, const std::string& top) {
  return path == top || (path.size() > top.size() && path.compare(0, top.size(), top) == 0 && path[top.size()] == '/');
}
}  // namespace

CompletionTracker::CompletionTracker(CompletionOptions options, StatFn stat, WritersFn writers)
    : opt_(options), stat_(std::move(stat)), writers_(std::move(writers)) {}

CompletionTracker::Entry& CompletionTracker::entry(const std::string& path, std::int64_t now_ns) {
  auto [it, fresh] = entries_.try_emplace(path);
  if (fresh) it->second.first_seen_ns = now_ns;
  return it->second;
}

void CompletionTracker::add(const Event& e, bool polled, std::int64_t now_ms, std::int64_t now_ns) {
  if (e.is_dir) {
    if (e.kind == EventKind::remove) forget(e.path);
    if (e.kind == EventKind::rename) forget(e.from);
    return;
  }
  auto moved_in = [&] {
    Entry& en = entry(e.path, now_ns);
    en.polled = polled;
    set(e.path, en, opt_.settle_moves ? State::closed : State::complete, now_ms, e.stat ? e.stat : stat_(e.path));
  };
  switch (e.kind) {
    case EventKind::create:
      if (e.reason == "moved_in") {
        moved_in();
        return;
      }
      [[fallthrough]];
    case EventKind::modify: {
      Entry& en = entry(e.path, now_ns);
      // The engine may report a modify right after a rename when the write it saw before had
      // stale stamps: if nothing moved since the file was judged complete, it stays so.
      if (e.kind == EventKind::modify && en.state == State::complete && e.stat && same_stamps(e.stat, en.stamps)) return;
      en.polled = polled;
      set(e.path, en, State::writing, now_ms, e.stat ? e.stat : stat_(e.path));
      return;
    }
    case EventKind::close_write:
    case EventKind::attrib: {
      Entry& en = entry(e.path, now_ns);
      en.polled = polled;
      // An attrib (chmod, touch) while a writer is still at it does not end the write.
      State s = e.kind == EventKind::attrib && en.state == State::writing && en.due_ms != 0 ? State::writing
                                                                                            : State::closed;
      set(e.path, en, s, now_ms, e.stat ? e.stat : stat_(e.path));
      return;
    }
    case EventKind::rename:
      forget(e.from);
      moved_in();
      return;
    case EventKind::remove:
      forget(e.path);
      return;
    case EventKind::exists:
      found(e.path, now_ms, now_ns);
      return;
    default:
      return;
  }
}

void CompletionTracker::found(const std::string& path, std::int64_t now_ms, std::int64_t now_ns) {
  Entry& en = entry(path, now_ns);
  if (en.state == State::writing && en.due_ms != 0) return;  // events already say more
  set(path, en, State::closed, now_ms, stat_(path));
}

void CompletionTracker::changed(const std::string& path, std::int64_t now_ms, std::int64_t now_ns) {
  Entry& en = entry(path, now_ns);
  set(path, en, State::writing, now_ms, stat_(path));
}

void CompletionTracker::set(const std::string& path, Entry& e, State s, std::int64_t now_ms,
                            std::optional<EntryStat> stamps) {
  e.stamps = std::move(stamps);
  e.quiet_since_ms = now_ms;
  if (s == State::complete) {
    unschedule(path, e);
    if (e.state != State::complete) ready_.push_back(path);
    e.state = s;
    return;
  }
  if (e.state == State::complete) {
    // Written again before it was taken: out of the ready list (take() skips stale names).
    e.state = s;
  }
  e.state = s;
  schedule(path, e, now_ms + opt_.settle_ms);
}

void CompletionTracker::schedule(const std::string& path, Entry& e, std::int64_t due_ms) {
  unschedule(path, e);
  e.due_ms = due_ms;
  due_.emplace(due_ms, path);
}

void CompletionTracker::unschedule(const std::string& path, Entry& e) {
  if (e.due_ms != 0) due_.erase({e.due_ms, path});
  e.due_ms = 0;
}

void CompletionTracker::forget(const std::string& path) {
  auto drop = [&](auto it) {
    unschedule(it->first, it->second);
    return entries_.erase(it);
  };
  if (auto it = entries_.find(path); it != entries_.end()) drop(it);
  // Below a removed directory (rare: only then is the whole map walked).
  const std::string below = path + "/";
  if (std::any_of(due_.begin(), due_.end(), [&](const auto& d) { return at_or_below(d.second, path); }) ||
      std::any_of(ready_.begin(), ready_.end(), [&](const std::string& p) { return at_or_below(p, path); })) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = at_or_below(it->first, path) ? drop(it) : std::next(it);
    }
  }
}

std::int64_t CompletionTracker::next_due_ms() const {
  if (!ready_.empty()) return 0;
  return due_.empty() ? INT64_MAX : due_.begin()->first;
}

void CompletionTracker::judge(const std::string& path, Entry& e, std::int64_t now_ms) {
  std::optional<EntryStat> now = stat_(path);
  if (!now) {
    entries_.erase(path);  // gone before it was complete
    return;
  }
  if (!same_stamps(now, e.stamps)) {
    e.stamps = now;
    e.quiet_since_ms = now_ms;
    schedule(path, e, now_ms + opt_.settle_ms);
    return;
  }
  switch (writers_(path)) {
    case Writers::some:
      schedule(path, e, now_ms + opt_.settle_ms);
      return;
    case Writers::unknown:
      // Seen closed (or polled, where no close is ever seen): quiet is the rule. Written but
      // never seen closed: wait longer, a writer may just be slow.
      if (e.state == State::writing && !e.polled && now_ms < e.quiet_since_ms + opt_.open_quiet_ms) {
        schedule(path, e, e.quiet_since_ms + opt_.open_quiet_ms);
        return;
      }
      break;
    case Writers::none:
      break;
  }
  e.state = State::complete;
  ready_.push_back(path);
}

std::vector<CompletionTracker::Ready> CompletionTracker::take(std::int64_t now_ms) {
  while (!due_.empty() && due_.begin()->first <= now_ms) {
    std::string path = due_.begin()->second;
    due_.erase(due_.begin());
    auto it = entries_.find(path);
    if (it == entries_.end()) continue;
    it->second.due_ms = 0;
    judge(path, it->second, now_ms);
  }
  std::vector<Ready> out;
  while (!ready_.empty()) {
    std::string path = std::move(ready_.front());
    ready_.pop_front();
    auto it = entries_.find(path);
    if (it == entries_.end() || it->second.state != State::complete) continue;
    out.push_back({path, it->second.first_seen_ns});
    entries_.erase(it);
  }
  return out;
}

}  // namespace lookout::ingest
