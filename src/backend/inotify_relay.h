// InotifyRelay: a thread that, while the loop is busy with a burst, keeps reading the
// inotify instance into a bounded buffer, so the kernel's queue (max_queued_events, 16384
// by default) does not overflow while the loop stats files and updates the model. The
// loop's work stays where it is; only the raw reads move.
//
// Disarmed (the quiet case) the thread sleeps and the loop reads the instance itself: a
// single change costs no thread hop. A drain that hands the loop a large batch (more than
// kBurstRecords records, or a queue one read could not empty) arms it, however the records
// were read; from then on the loop takes the thread's chunks, in the kernel's order, waking
// on poll_fd() (then an eventfd, readable while chunks wait), and disarms it when a drain
// returns a small batch with the queue empty behind it. Past `cap_bytes` buffered the thread
// stops reading: the kernel queue fills and overflows as before, and the engine rescans
// (memory stays bounded, and the loop's backpressure on a slow consumer still ends in a
// rescan).
//
// Thread-safe between the loop thread (drain, poll_fd, stop) and its own thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backend/inotify_records.h"
#include "lookout/result.h"
#include "sys/inotify_calls.h"
#include "sys/unique_fd.h"

namespace lookout::backend {

class InotifyRelay {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  // 8 MiB: about 250,000 records with short names, fifteen times the default kernel queue.
  static constexpr std::size_t kDefaultCapBytes = 8u << 20;
  // A drain handing the loop more records than this arms the thread (the watcher's own mark
  // of a busy queue, where it starts batching reads).
  static constexpr std::size_t kBurstRecords = 256;
  // How long the ring's pages stay after a burst, for the next one.
  static constexpr int kKeepPagesMs = 200;

  // Starts the thread, disarmed. `fd` is the instance's (non-blocking) and must outlive the
  // relay; every read goes through `calls`. At most about `cap_bytes` (at least two reads'
  // worth) are held. Null when no thread, eventfd or mapping could be had: the caller reads
  // the instance itself, as without a relay.
  // After a read that emptied the queue the thread waits `gather_us` (at most 1 ms) before
  // the next, so records arrive in batches rather than one read each.
  static std::unique_ptr<InotifyRelay> start(int fd, sys::InotifyCalls& calls,
                                             std::size_t cap_bytes = kDefaultCapBytes,
                                             int gather_us = 1000);
  ~InotifyRelay();
  InotifyRelay(const InotifyRelay&) = delete;
  InotifyRelay& operator=(const InotifyRelay&) = delete;

  // What the loop polls for POLLIN: the instance while disarmed, ready_fd() while armed.
  int poll_fd() const;
  // Appends queued records to `out` in the kernel's order (the thread's chunks, then the
  // loop's own reads into `buf`, the backend's read buffer), about max_events at most;
  // returns how many. Arms or disarms the thread as described above.
  Result<std::size_t> drain(std::vector<RawEvent>& out, std::size_t max_events,
                            std::vector<char>& buf);
  // The loop is about to stop reading for a while (its consumer is behind): the thread reads
  // meanwhile, up to the cap, as in a burst.
  void arm();
  // Ends the thread; what it buffered is still returned by drain(), which from then on
  // reads the instance itself. Idempotent.
  void stop();

  // For tests: whether the thread is reading, and the bytes it holds.
  bool armed() const;
  std::size_t buffered_bytes() const;

 private:
  // One read's bytes, at `offset` in the ring.
  struct Chunk {
    std::size_t offset = 0;
    std::size_t size = 0;
    bool emptied = false;  // that read found the queue empty behind it
  };
  InotifyRelay(int fd, sys::InotifyCalls& calls, char* ring, std::size_t ring_bytes,
               int gather_us, sys::UniqueFd ready, sys::UniqueFd wake);
  void run();
  // Where the next read may write kChunkBytes without touching unread chunks; false: the
  // ring is full (mu_ held).
  bool room_for_read(std::size_t& offset) const;
  void disarm();         // mu_ held
  void release_pages();  // mu_ held: the ring's touched pages go back to the kernel
  void signal_ready();  // mu_ held
  void clear_ready();   // mu_ held

  const int fd_;
  sys::InotifyCalls& calls_;
  // The buffer: mapped once, its pages touched only as far as a burst fills it and handed
  // back when the burst ends (a munmap per read made every CPU flush its TLB).
  char* const ring_;
  const std::size_t ring_bytes_;
  const int gather_us_;
  std::size_t touched_ = 0;  // bytes from the ring's start written since it was last handed back
  sys::UniqueFd ready_;
  sys::UniqueFd wake_;  // written by stop(): ends the thread's poll

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> chunks_;
  std::size_t head_ = 0;   // where the last read ended
  std::size_t bytes_ = 0;  // in chunks_
  bool armed_ = false;
  bool ready_signalled_ = false;
  bool stopping_ = false;
  int read_errno_ = 0;  // the thread's read failed: the loop reports it
  std::thread thread_;
};

}  // namespace lookout::backend
