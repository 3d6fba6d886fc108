// EventLog: the sequenced hand-over between the watcher's loop (the one producer) and its
// subscriptions (the consumers, one Reader each). One log, one cursor per reader: an event is
// stored once however many readers want it, and dropped when every reader has passed it.
//
// Memory is bounded per reader, never by the slowest consumer's speed:
// - A coalescing reader counts a modify/attrib/access that repeats its untaken event for the
//   same path as nothing (it is merged when taken), so one busy file costs one event.
// - A reader whose cursor lags the log by more than its limit has its untaken events moved
//   out of the log into its own queue (compaction), so the log's front can advance.
// - A reader more than `max_behind` events behind is cut off: it keeps what it had (plus the
//   rest of the loop step), the loop snapshots the tree model at the end of the step, and once
//   the reader has taken its queue the loop hands it one `rescan` record (reason "lagged")
//   and the differences between the snapshot and the model (see Watcher::Impl::hand_off).
// - A reader made with hold_loop (the Watcher's own next_batch() consumer, the only one of
//   `lookout watch`) is never cut: past its limit the loop stops reading the kernel instead
//   (over_limit(), resume_fd()), and the kernel queue absorbs the burst or overflows into an
//   ordinary rescan. Only a sole consumer should hold the loop.
// Thread-safe: append/cut_readers/requests/deliver on the loop thread, a Reader's take on
// its consumer's thread, add/remove from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "lookout/event.h"
#include "lookout/subscription.h"
#include "sys/unique_fd.h"

namespace lookout::core {

// One consumer's place in the log. Fields are guarded by the EventLog's mutex.
struct Reader : std::enable_shared_from_this<Reader> {
  enum class Phase {
    joining,   // report_existing: waiting for the loop to list the tree for it
    live,      // reading the log from `cursor`
    cutting,   // past its limit: gets the rest of this loop step in `own`, then is cut
    cut,       // detached; what it missed is summarized in `missed_*` until its hand-off
    handoff,   // has taken everything before the cut: the loop owes it the differences
  };
  SubscribeOptions opt;
  bool hold_loop = false;
  Phase phase = Phase::live;
  std::uint64_t cursor = 0;  // next log sequence number to read (live only)
  std::deque<Event> own;     // delivered before the log: compacted, cut-off or handed-off events
  std::size_t waiting = 0;   // events it will be given: own.size() + counted ones in the log
  // Coalescing: path -> kind of its newest untaken event (untaken ones only) where that
  // kind can coalesce; no entry for any other kind.
  std::unordered_map<std::string, EventKind> last_kind;
  // While cut: the deepest directory holding everything it missed ("" = every root), and
  // which in-place changes it missed by path (bounded; past it, `missed_all_changed`).
  bool missed_any = false;
  std::string missed_under;
  std::unordered_map<std::string, EventMask> missed_changes;
  bool missed_all_changed = false;
  std::uint64_t next_seq = 1;  // the stream's own numbering
  // The log position (EventLog::position) before which everything meant for it was taken,
  // as of its last take that left nothing behind: what a consumer that makes its work
  // lasting can vouch for (WatchOptions::durable_through).
  std::uint64_t taken_through = 0;
  sys::UniqueFd ready_fd;      // eventfd, signalled while something can be taken
  // Writes to ready_fd made or about to be made (wake(), outside the lock) and not yet read
  // off it: a take that finds none has nothing to clear, so an inline taker's takes cost no
  // syscall. Counted before each write, so the fd is never readable while this says 0.
  std::atomic<std::uint64_t> fd_writes{0};
  // Subscription::set_inline_taker: run on the loop thread in place of signalling ready_fd.
  std::function<bool()> inline_taker;
  bool signalled = false;
  bool removed = false;
  SubscriptionStats stats;
};

// What a cut-off reader missed, for the loop to turn into a rescan and differences.
struct Missed {
  bool any = false;
  std::string under;  // "" = every root
  std::unordered_map<std::string, EventMask> changes;
  bool all_changed = false;
};

class EventLog {
 public:
  EventLog();

  // Any thread. The new reader sees events appended from now on (report_existing: from when
  // the loop has listed the tree for it).
  std::shared_ptr<Reader> add_reader(const SubscribeOptions& opt, bool hold_loop);
  void remove_reader(Reader& r);

  // Loop thread: stores the event for every reader that wants it.
  void append(Event e);
  // Loop thread: while a WakeBatch lives, append() wakes the readers it signals only every
  // kWakeEvery events and when the batch ends. Waking a consumer per event made the loop and
  // a fast consumer run in lock step, an eventfd write and a context switch per event, which
  // cost the loop a third of its time in a burst and let the kernel queue overflow.
  class WakeBatch {
   public:
    explicit WakeBatch(EventLog& log) : log_(&log) { log.begin_wake_batch(); }
    WakeBatch(const WakeBatch&) = delete;
    WakeBatch& operator=(const WakeBatch&) = delete;
    ~WakeBatch() { log_->end_wake_batch(); }

   private:
    EventLog* log_;
  };
  static constexpr std::size_t kWakeEvery = 256;
  // Loop thread: true while a hold_loop reader is past its limit.
  bool over_limit() const;
  // Readable when the hold_loop readers have drained below their limit after being over it.
  int resume_fd() const { return resume_fd_.get(); }
  void clear_resume();
  // Readable when a reader needs the loop (a hand-off or a listing); see requests().
  int service_fd() const { return service_fd_.get(); }

  // Loop thread, at the end of a step: the readers cut off during it (now detached), for
  // the loop to snapshot the model for.
  std::vector<std::shared_ptr<Reader>> take_cut_readers();
  // Loop thread: readers waiting for a listing (joining) or for their hand-off.
  std::vector<std::shared_ptr<Reader>> requests();
  Missed missed(Reader& r);
  // Loop thread: gives `r` these events (the listing or the differences) ahead of every event
  // appended from now on, and makes it live again.
  void deliver(Reader& r, std::vector<Event> events);

  // Consumer thread. try_take never blocks; take waits up to timeout_ms (-1: forever).
  // Both return false once the log is closed and the reader has taken everything.
  bool try_take(Reader& r, std::vector<Event>& out, std::size_t max_events);
  bool take(Reader& r, std::vector<Event>& out, int timeout_ms);
  // Before the loop runs (or after it ended): see Subscription::set_inline_taker.
  void set_inline_taker(Reader& r, std::function<bool()> taker);
  SubscriptionStats stats(const Reader& r) const;

  // Either thread: no more events will come; wakes every reader.
  void close();

  std::uint64_t appended() const;   // events stored (before any reader's coalescing)
  // Any thread: the sequence number the next event will get; every event before it is in
  // the model the loop holds (compare with Reader::taken_through).
  std::uint64_t position() const;
  std::uint64_t taken_through(const Reader& r) const;
  std::uint64_t coalesced() const;  // summed over readers
  std::size_t stored() const;       // events in the log now (tests: memory is bounded)

 private:
  bool wants(const Reader& r, const Event& e) const;
  void begin_wake_batch();
  void end_wake_batch();
  void append_locked(Event e);
  void deliver_locked(Reader& r, std::vector<Event> events);
  // Counts `e` for a live reader (or queues it for a cutting one); false if it coalesced.
  void offer(Reader& r, const Event& e, std::uint64_t seq);
  void compact(Reader& r);
  void begin_cut(Reader& r);
  void note_missed(Reader& r, const Event& e);
  void trim();
  // Under the lock: notes that `r` has events; wake() makes its fd readable once the lock is
  // released, so the woken consumer does not find it still held and sleep again on it.
  void signal(Reader& r);
  void unsignal(Reader& r);
  // Without the lock: writes the readiness fds of the readers signalled (taken out of wakes_).
  void wake(std::vector<std::shared_ptr<Reader>>& readers);
  void set_service();
  // Moves one event into `out` unless it coalesces with one taken in this same call.
  void hand_out(Reader& r, Event&& e, std::vector<Event>& out,
                std::unordered_map<std::string, EventKind>& seen);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> log_;          // events base_ .. head_-1, by log sequence number
  std::uint64_t base_ = 1;         // log sequence number of log_.front()
  std::uint64_t head_ = 1;         // the next event's log sequence number
  std::vector<std::shared_ptr<Reader>> readers_;
  std::vector<std::shared_ptr<Reader>> wakes_;  // signalled under the lock, woken after it
  std::uint64_t coalesced_ = 0;
  int wake_batches_ = 0;             // WakeBatch nesting (loop thread)
  std::size_t appended_unwoken_ = 0;  // appends since the last wake inside a batch
  bool closed_ = false;
  bool paused_ = false;
  sys::UniqueFd resume_fd_;
  sys::UniqueFd service_fd_;
};

// `path` is `dir` or below it (byte-wise, at a '/' boundary).
bool path_at_or_below(const std::string& path, const std::string& dir);
// The deepest directory holding both (at '/' boundaries); "" when they share no root.
std::string common_dir(const std::string& a, const std::string& b);

}  // namespace lookout::core
