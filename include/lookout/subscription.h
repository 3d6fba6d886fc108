// Subscription: one consumer's cursor into a Watcher's sequenced event log. Several
// subscriptions share one Watcher (one set of kernel watches); each has its own event mask,
// path filter, coalescing choice and lag limit, and none can hold the loop or the others
// back: one that falls more than `max_behind` events behind is cut off from the log and,
// once it has taken what it had, gets one `rescan` record (reason "lagged") for the subtree
// the missed events touched, followed by the differences as ordinary events.
// Thread safety: a Subscription is used by one consumer thread at a time; it may outlive
// its Watcher (it then reports the end once drained).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lookout/event.h"

namespace lookout {

namespace core {
class EventLog;
struct Reader;
}  // namespace core

struct SubscribeOptions {
  // Kinds to deliver (rescan records of this subscription's own hand-off always come).
  EventMask events = kDefaultEvents;
  // Absolute paths: only events at or below one of them (a rename when either side is).
  // Empty: everything the Watcher reports.
  std::vector<std::string> under;
  // Merge a modify, attrib or access with the same kind for the same path that is still
  // untaken (one reload per save). Off: every kernel event is delivered (`stats` counts
  // them as inotifywatch does).
  bool coalesce = true;
  // Begin with one `exists` record per entry already in the tree (after the start-up crawl,
  // or at once for a subscription made on a running Watcher), then the changes from there.
  bool report_existing = false;
  // Events delivered to this subscription but not taken, after which it is cut off and
  // handed a rescan instead (memory is bounded by this, not by how slow the consumer is).
  std::size_t max_behind = 65536;
};

struct SubscriptionStats {
  std::uint64_t delivered = 0;  // events taken by the consumer
  std::uint64_t coalesced = 0;  // events merged into an untaken one
  std::uint64_t lagged = 0;     // times it fell max_behind behind and was handed a rescan
  std::size_t behind = 0;       // events waiting for it now
};

class Subscription {
 public:
  Subscription(std::shared_ptr<core::EventLog> log, std::shared_ptr<core::Reader> reader);
  ~Subscription();  // stops delivery; the log frees what only this subscription held
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Readable (POLLIN) while try_take would return events or the end: wait on it with
  // poll(2)/epoll beside signalfds, timers, pidfds and sockets. It is an eventfd that
  // try_take resets once nothing is left.
  int fd() const;
  // Never blocks: appends up to max_events waiting events to `out`. Returns false once the
  // Watcher has ended and everything was taken.
  bool try_take(std::vector<Event>& out, std::size_t max_events = SIZE_MAX);
  // Waits up to timeout_ms (-1: forever) for at least one event, then takes as try_take.
  bool take(std::vector<Event>& out, int timeout_ms);
  // For a sole consumer whose handling is quick and never blocks (`lookout watch` writing
  // to an output that can take it now): `taker` runs on the Watcher's loop thread whenever
  // events became ready, in place of waking the consumer's thread, and may try_take and
  // handle them there. It returns true when it took everything, false to have fd() signalled
  // as usual (busy, the output full, the end reached, or more left than it takes at once).
  // The consumer serializes it with its own takes (a mutex the taker only try-locks). Set it
  // before Watcher::start(); clear it (empty function) only once the loop has stopped.
  void set_inline_taker(std::function<bool()> taker);
  // Safe from any thread.
  SubscriptionStats stats() const;
  // Safe from any thread: the Watcher's log position before which every event meant for
  // this subscription was taken, as of its last take that left nothing waiting. A consumer
  // that makes what it took lasting (a journal) hands this to WatchOptions::durable_through.
  std::uint64_t taken_through() const;

 private:
  std::shared_ptr<core::EventLog> log_;
  std::shared_ptr<core::Reader> reader_;
};

}  // namespace lookout
