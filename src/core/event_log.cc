#include "core/event_log.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace lookout::core {

namespace {

bool coalescable(EventKind k) {
  return k == EventKind::modify || k == EventKind::attrib || k == EventKind::access;
}

// Coalescing bookkeeping: the kind of the newest event per path, where only a coalescable
// kind can ever match a later event. Any other kind is kept as no entry at all, which
// matches nothing alike and saves a heap-allocated key per create, delete and close_write
// (most of a burst).
void note_kind(std::unordered_map<std::string, EventKind>& last, const Event& e) {
  if (coalescable(e.kind)) {
    last[e.path] = e.kind;
  } else if (!last.empty()) {
    last.erase(e.path);
  }
}

// Kinds that describe a subtree rather than one entry: they concern a reader of any path
// below them, not only of paths above.
bool about_subtree(EventKind k) {
  return k == EventKind::rescan || k == EventKind::unmount || k == EventKind::backend;
}

// Kinds a hand-off cannot rebuild from two models: they change no entry's name or presence.
bool in_place(EventKind k) {
  return k == EventKind::modify || k == EventKind::close_write || k == EventKind::attrib ||
         k == EventKind::access || k == EventKind::open || k == EventKind::close_nowrite;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {};
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Past this many distinct paths changed in place, a cut-off reader is told every file in
// the missed subtree may have changed (bounded memory; errs towards an extra modify).
constexpr std::size_t kMaxMissedChanges = 4096;

}  // namespace

bool path_at_or_below(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() >= dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::string common_dir(const std::string& a, const std::string& b) {
  std::string d = a;
  while (!d.empty() && !path_at_or_below(b, d)) d = d == "/" ? std::string() : parent_dir(d);
  return d;
}

EventLog::EventLog()
    : resume_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      service_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

std::shared_ptr<Reader> EventLog::add_reader(const SubscribeOptions& opt, bool hold_loop) {
  auto r = std::make_shared<Reader>();
  r->opt = opt;
  r->opt.max_behind = std::max<std::size_t>(1, opt.max_behind);
  r->hold_loop = hold_loop;
  r->ready_fd = sys::UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  std::vector<std::shared_ptr<Reader>> woken;
  {
    std::lock_guard lock(mu_);
    r->cursor = head_;
    if (opt.report_existing) {
      r->phase = Reader::Phase::joining;
      set_service();
    }
    if (closed_) signal(*r);
    readers_.push_back(r);
    woken.swap(wakes_);
  }
  wake(woken);
  return r;
}

void EventLog::remove_reader(Reader& r) {
  std::lock_guard lock(mu_);
  r.removed = true;
  std::erase_if(readers_, [&](const auto& p) { return p.get() == &r; });
  trim();
  if (paused_ && r.hold_loop) {
    paused_ = std::any_of(readers_.begin(), readers_.end(), [](const auto& p) {
      return p->hold_loop && p->waiting >= p->opt.max_behind;
    });
    if (!paused_) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(resume_fd_.get(), &one, sizeof one);
    }
  }
}

bool EventLog::wants(const Reader& r, const Event& e) const {
  // `exists` records are made for this reader alone, which asked for them by report_existing.
  if (e.kind != EventKind::exists && !(r.opt.events & event_bit(e.kind))) return false;
  if (r.opt.under.empty()) return true;
  for (const auto& u : r.opt.under) {
    if (path_at_or_below(e.path, u)) return true;
    if (e.kind == EventKind::rename && path_at_or_below(e.from, u)) return true;
    if (about_subtree(e.kind) && (e.path.empty() || path_at_or_below(u, e.path))) return true;
  }
  return false;
}

void EventLog::signal(Reader& r) {
  if (r.signalled) return;
  r.signalled = true;
  wakes_.push_back(r.shared_from_this());  // kept alive (its fd open) until woken
}

void EventLog::wake(std::vector<std::shared_ptr<Reader>>& readers) {
  if (readers.empty()) return;
  for (const auto& r : readers) {
    // A consumer that takes on this thread, when it can without blocking: no thread to wake
    // (the latency of a wake-up, inotifywait's one thread has none).
    if (r->inline_taker && r->inline_taker()) continue;
    r->fd_writes.fetch_add(1);
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(r->ready_fd.get(), &one, sizeof one);
  }
  cv_.notify_all();
  readers.clear();
}

void EventLog::unsignal(Reader& r) {
  // Read even when not signalled: a wake() still on its way when the reader took everything
  // lands after this, and the next take must clear it (one spurious wake, never a stuck fd).
  // Only when a write was counted (a write not landed yet stays counted: the take its
  // wake-up causes reads it).
  if (r.fd_writes.load() > 0) {
    std::uint64_t v = 0;
    if (::read(r.ready_fd.get(), &v, sizeof v) == static_cast<ssize_t>(sizeof v)) r.fd_writes.fetch_sub(v);
  }
  r.signalled = false;
}

void EventLog::set_service() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(service_fd_.get(), &one, sizeof one);
}

void EventLog::offer(Reader& r, const Event& e, std::uint64_t seq) {
  if (r.opt.coalesce && coalescable(e.kind)) {
    auto it = r.last_kind.find(e.path);
    if (it != r.last_kind.end() && it->second == e.kind) {
      ++r.stats.coalesced;
      ++coalesced_;
      return;
    }
  }
  if (r.opt.coalesce) note_kind(r.last_kind, e);
  if (r.phase == Reader::Phase::cutting) {
    r.own.push_back(e);
  } else if (r.waiting == r.own.size()) {
    r.cursor = seq;  // its first untaken event in the log
  }
  ++r.waiting;
  signal(r);
  if (r.hold_loop) {
    if (r.waiting >= r.opt.max_behind) paused_ = true;
  } else if (r.phase == Reader::Phase::live && r.waiting > r.opt.max_behind) {
    begin_cut(r);
  }
}

void EventLog::append(Event e) {
  std::vector<std::shared_ptr<Reader>> woken;
  {
    std::lock_guard lock(mu_);
    append_locked(std::move(e));
    const bool now = wake_batches_ == 0 || ++appended_unwoken_ >= kWakeEvery;
    if (now && !wakes_.empty()) {
      woken.swap(wakes_);
      appended_unwoken_ = 0;
    }
  }
  wake(woken);
}

void EventLog::begin_wake_batch() {
  std::lock_guard lock(mu_);
  ++wake_batches_;
}

void EventLog::end_wake_batch() {
  std::vector<std::shared_ptr<Reader>> woken;
  {
    std::lock_guard lock(mu_);
    if (--wake_batches_ > 0) return;
    appended_unwoken_ = 0;
    woken.swap(wakes_);
  }
  wake(woken);
}

void EventLog::append_locked(Event e) {
  log_.push_back(std::move(e));
  const std::uint64_t seq = head_++;
  const Event& added = log_.back();
  for (auto& rp : readers_) {
    Reader& r = *rp;
    if (!wants(r, added)) continue;
    switch (r.phase) {
      case Reader::Phase::joining:
        break;  // its listing, made later, will show what this event did
      case Reader::Phase::cut:
      case Reader::Phase::handoff:
        note_missed(r, added);
        break;
      case Reader::Phase::live:
      case Reader::Phase::cutting:
        offer(r, added, seq);
        break;
    }
  }
  for (auto& rp : readers_) {
    Reader& r = *rp;
    if (r.phase != Reader::Phase::live) continue;
    if (r.waiting == r.own.size()) {
      r.cursor = head_;  // nothing of it untaken in the log: it holds no part of it
    } else if (head_ - r.cursor > 2 * std::max<std::size_t>(r.opt.max_behind, 1024)) {
      // Its untaken events are spread thin over a long stretch (coalesced or unwanted
      // events between them): they move to its own queue so the log's front can advance.
      compact(r);
    }
  }
  trim();
}

void EventLog::compact(Reader& r) {
  // Re-derives which log events it counted: the same rule as offer(), seeded with its queue.
  std::unordered_map<std::string, EventKind> last;
  if (r.opt.coalesce) {
    for (const auto& e : r.own) note_kind(last, e);
  }
  for (std::uint64_t s = std::max(r.cursor, base_); s < head_; ++s) {
    const Event& e = log_[s - base_];
    if (!wants(r, e)) continue;
    if (r.opt.coalesce && coalescable(e.kind)) {
      auto it = last.find(e.path);
      if (it != last.end() && it->second == e.kind) continue;
    }
    if (r.opt.coalesce) note_kind(last, e);
    r.own.push_back(e);
  }
  r.cursor = head_;
  r.waiting = r.own.size();
}

void EventLog::begin_cut(Reader& r) {
  compact(r);
  r.phase = Reader::Phase::cutting;
  ++r.stats.lagged;
}

void EventLog::note_missed(Reader& r, const Event& e) {
  std::string dir = about_subtree(e.kind) ? e.path : parent_dir(e.path);
  if (e.kind == EventKind::rename) dir = common_dir(dir, parent_dir(e.from));
  r.missed_under = r.missed_any ? common_dir(r.missed_under, dir) : dir;
  r.missed_any = true;
  if (e.kind == EventKind::rename && !r.missed_changes.empty()) {
    // What was noted under the old name is found under the new one at the hand-off.
    std::vector<std::pair<std::string, EventMask>> moved;
    for (auto it = r.missed_changes.begin(); it != r.missed_changes.end();) {
      if (path_at_or_below(it->first, e.from)) {
        moved.emplace_back(e.path + it->first.substr(e.from.size()), it->second);
        it = r.missed_changes.erase(it);
      } else {
        it = path_at_or_below(it->first, e.path) ? r.missed_changes.erase(it) : std::next(it);
      }
    }
    for (auto& [p, m] : moved) r.missed_changes[p] |= m;
  } else if (e.kind == EventKind::remove && !r.missed_changes.empty()) {
    std::erase_if(r.missed_changes, [&](const auto& kv) { return path_at_or_below(kv.first, e.path); });
  }
  if (in_place(e.kind) && !r.missed_all_changed) {
    r.missed_changes[e.path] |= event_bit(e.kind);
    if (r.missed_changes.size() > kMaxMissedChanges) {
      r.missed_all_changed = true;
      r.missed_changes.clear();
    }
  }
}

void EventLog::trim() {
  std::uint64_t keep = head_;
  for (const auto& r : readers_) {
    if (r->phase == Reader::Phase::live) keep = std::min(keep, r->cursor);
  }
  while (base_ < keep && !log_.empty()) {
    log_.pop_front();
    ++base_;
  }
  if (log_.empty()) base_ = head_;
}

bool EventLog::over_limit() const {
  std::lock_guard lock(mu_);
  return paused_;
}

void EventLog::clear_resume() {
  std::uint64_t v;
  [[maybe_unused]] auto n = ::read(resume_fd_.get(), &v, sizeof v);
}

std::vector<std::shared_ptr<Reader>> EventLog::take_cut_readers() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Reader>> cut;
  for (auto& r : readers_) {
    if (r->phase != Reader::Phase::cutting) continue;
    r->phase = r->own.empty() ? Reader::Phase::handoff : Reader::Phase::cut;
    r->missed_any = false;
    r->missed_under.clear();
    r->missed_changes.clear();
    r->missed_all_changed = false;
    r->last_kind.clear();
    if (r->phase == Reader::Phase::handoff) set_service();
    cut.push_back(r);
  }
  return cut;
}

std::vector<std::shared_ptr<Reader>> EventLog::requests() {
  std::lock_guard lock(mu_);
  std::uint64_t v;
  [[maybe_unused]] auto n = ::read(service_fd_.get(), &v, sizeof v);
  std::vector<std::shared_ptr<Reader>> out;
  for (auto& r : readers_) {
    if (r->phase == Reader::Phase::joining || r->phase == Reader::Phase::handoff) out.push_back(r);
  }
  return out;
}

Missed EventLog::missed(Reader& r) {
  std::lock_guard lock(mu_);
  Missed m;
  m.any = r.missed_any;
  m.under = r.missed_under;
  m.changes = r.missed_changes;
  m.all_changed = r.missed_all_changed;
  return m;
}

void EventLog::deliver(Reader& r, std::vector<Event> events) {
  std::vector<std::shared_ptr<Reader>> woken;
  {
    std::lock_guard lock(mu_);
    deliver_locked(r, std::move(events));
    woken.swap(wakes_);
  }
  wake(woken);
}

void EventLog::deliver_locked(Reader& r, std::vector<Event> events) {
  if (r.removed) return;
  for (auto& e : events) {
    bool own_record = e.kind == EventKind::exists || (e.kind == EventKind::rescan && e.reason == "lagged");
    if (!own_record && !wants(r, e)) continue;
    if (r.opt.coalesce) note_kind(r.last_kind, e);
    r.own.push_back(std::move(e));
  }
  r.phase = Reader::Phase::live;
  r.cursor = head_;
  r.waiting = r.own.size();
  r.missed_any = false;
  r.missed_changes.clear();
  if (!r.own.empty()) signal(r);
}

void EventLog::hand_out(Reader& r, Event&& e, std::vector<Event>& out,
                        std::unordered_map<std::string, EventKind>& seen) {
  if (r.opt.coalesce) {
    if (coalescable(e.kind)) {
      auto it = seen.find(e.path);
      if (it != seen.end() && it->second == e.kind) return;
    }
    note_kind(seen, e);
  }
  e.seq = r.next_seq++;
  out.push_back(std::move(e));
}

bool EventLog::try_take(Reader& r, std::vector<Event>& out, std::size_t max_events) {
  std::lock_guard lock(mu_);
  const std::size_t start = out.size();
  std::unordered_map<std::string, EventKind> seen;
  while (!r.own.empty() && out.size() - start < max_events) {
    hand_out(r, std::move(r.own.front()), out, seen);
    r.own.pop_front();
  }
  bool log_left = false;
  if (r.phase == Reader::Phase::live && r.cursor < head_) {
    std::uint64_t s = std::max(r.cursor, base_);
    // The only reader: what it passes is trimmed at once, so its events move out of the log
    // instead of being copied (the common case: `lookout watch`, one job on a tree).
    const bool sole = readers_.size() == 1;
    for (; s < head_ && out.size() - start < max_events; ++s) {
      Event& e = log_[s - base_];
      if (wants(r, e)) hand_out(r, sole ? std::move(e) : Event(e), out, seen);
    }
    r.cursor = s;
    log_left = s < head_;
  }
  const std::size_t taken = out.size() - start;
  r.stats.delivered += taken;
  if (r.own.empty() && !log_left) {
    r.waiting = 0;
    r.last_kind.clear();
    if (r.phase == Reader::Phase::live) {
      r.cursor = head_;
      r.taken_through = head_;
    }
  } else {
    r.waiting = r.waiting > taken ? r.waiting - taken : 1;
  }
  if (r.phase == Reader::Phase::cut && r.own.empty()) {
    r.phase = Reader::Phase::handoff;
    set_service();
  }
  if (paused_ && r.hold_loop && r.waiting < r.opt.max_behind) {
    paused_ = std::any_of(readers_.begin(), readers_.end(), [](const auto& p) {
      return p->hold_loop && p->waiting >= p->opt.max_behind;
    });
    if (!paused_) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(resume_fd_.get(), &one, sizeof one);
    }
  }
  trim();
  const bool left = !r.own.empty() || log_left;
  if (!left && !closed_) unsignal(r);
  return !(closed_ && taken == 0 && !left);
}

bool EventLog::take(Reader& r, std::vector<Event>& out, int timeout_ms) {
  {
    std::unique_lock lock(mu_);
    auto ready = [&] {
      return closed_ || !r.own.empty() || (r.phase == Reader::Phase::live && r.waiting > 0);
    };
    if (timeout_ms < 0) {
      cv_.wait(lock, ready);
    } else if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
      return true;
    }
  }
  return try_take(r, out, SIZE_MAX);
}

void EventLog::set_inline_taker(Reader& r, std::function<bool()> taker) {
  std::lock_guard lock(mu_);
  r.inline_taker = std::move(taker);
}

SubscriptionStats EventLog::stats(const Reader& r) const {
  std::lock_guard lock(mu_);
  SubscriptionStats s = r.stats;
  s.behind = r.waiting;
  return s;
}

void EventLog::close() {
  std::vector<std::shared_ptr<Reader>> woken;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& r : readers_) signal(*r);
    woken.swap(wakes_);
  }
  wake(woken);
  cv_.notify_all();
}

std::uint64_t EventLog::position() const {
  std::lock_guard lock(mu_);
  return head_;
}

std::uint64_t EventLog::taken_through(const Reader& r) const {
  std::lock_guard lock(mu_);
  return r.taken_through;
}

std::uint64_t EventLog::appended() const {
  std::lock_guard lock(mu_);
  return head_ - 1;
}

std::uint64_t EventLog::coalesced() const {
  std::lock_guard lock(mu_);
  return coalesced_;
}

std::size_t EventLog::stored() const {
  std::lock_guard lock(mu_);
  return log_.size();
}

}  // namespace lookout::core
