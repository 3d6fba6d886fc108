#include "backend/inotify_relay.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <system_error>

namespace lookout::backend {

namespace {
// Asks the scheduler for short slices for the calling thread (EEVDF, Linux 6.12+: a shorter
// requested slice is an earlier deadline, and a waking thread with one preempts a running
// one). Without it the thread, waking from its millisecond's wait while the loop and the
// writer hold both CPUs, waited out the running thread's slice (3-4 ms measured): longer
// than a 1,024-record queue lasts in a burst. Its work per wake-up is one read (10-20 us).
// Older kernels ignore the slice; a refusal changes nothing.
void ask_for_short_slices() {
  // struct sched_attr, version 0 (48 bytes): <linux/sched/types.h> clashes with <sched.h>,
  // and glibc wraps sched_setattr only from 2.41.
  struct {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
  } attr{};
  static_assert(sizeof attr == 48, "sched_attr, SCHED_ATTR_SIZE_VER0");
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  errno = 0;
  const int nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
  attr.sched_nice = errno == 0 ? nice : 0;
  attr.sched_runtime = 100 * 1000;  // ns: the smallest slice the kernel takes
  [[maybe_unused]] long r = ::syscall(SYS_sched_setattr, 0, &attr, 0);
}

void sleep_us(int us) {
  timespec ts{0, static_cast<long>(us) * 1000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
}  // namespace

std::unique_ptr<InotifyRelay> InotifyRelay::start(int fd, sys::InotifyCalls& calls,
                                                  std::size_t cap_bytes, int gather_us) {
  sys::UniqueFd ready(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  sys::UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ready.valid() || !wake.valid()) return nullptr;
  const std::size_t ring_bytes = std::max(cap_bytes, 2 * kChunkBytes);
  void* ring = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ring == MAP_FAILED) return nullptr;
  std::unique_ptr<InotifyRelay> relay(new InotifyRelay(fd, calls, static_cast<char*>(ring), ring_bytes,
                                                       std::clamp(gather_us, 0, 1000), std::move(ready),
                                                       std::move(wake)));
  // Every signal blocked in the thread: a process-directed signal the front end takes through
  // a signalfd (SIGUSR1, SIGHUP...) must never be delivered here and take its default action.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    relay->thread_ = std::thread([r = relay.get()] { r->run(); });
  } catch (const std::system_error&) {
    relay.reset();  // no thread to be had (a thread limit): the loop reads for itself
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return relay;
}

InotifyRelay::InotifyRelay(int fd, sys::InotifyCalls& calls, char* ring, std::size_t ring_bytes,
                           int gather_us, sys::UniqueFd ready, sys::UniqueFd wake)
    : fd_(fd),
      calls_(calls),
      ring_(ring),
      ring_bytes_(ring_bytes),
      gather_us_(gather_us),
      ready_(std::move(ready)),
      wake_(std::move(wake)) {}

InotifyRelay::~InotifyRelay() {
  stop();
  ::munmap(ring_, ring_bytes_);
}

void InotifyRelay::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    armed_ = false;
  }
  cv_.notify_all();
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void InotifyRelay::arm() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || armed_) return;
    armed_ = true;
  }
  cv_.notify_one();
}

int InotifyRelay::poll_fd() const {
  std::lock_guard lock(mu_);
  return armed_ || !chunks_.empty() || read_errno_ != 0 ? ready_.get() : fd_;
}

bool InotifyRelay::armed() const {
  std::lock_guard lock(mu_);
  return armed_;
}

std::size_t InotifyRelay::buffered_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

bool InotifyRelay::room_for_read(std::size_t& offset) const {
  if (chunks_.empty()) {
    offset = 0;  // nothing unread: start over where the pages are already touched
    return true;
  }
  const std::size_t tail = chunks_.front().offset;  // the oldest unread byte
  if (head_ >= tail) {
    if (head_ + kChunkBytes <= ring_bytes_) {
      offset = head_;
      return true;
    }
    offset = 0;  // wrap: a read never straddles the end, records stay whole
    return kChunkBytes <= tail;
  }
  offset = head_;
  return head_ + kChunkBytes <= tail;
}

void InotifyRelay::signal_ready() {
  if (ready_signalled_) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(ready_.get(), &one, sizeof one);
  ready_signalled_ = true;
}

void InotifyRelay::clear_ready() {
  if (!ready_signalled_) return;
  std::uint64_t v = 0;
  [[maybe_unused]] auto n = ::read(ready_.get(), &v, sizeof v);
  ready_signalled_ = false;
}

void InotifyRelay::disarm() {
  armed_ = false;
  cv_.notify_one();  // the thread hands the ring's pages back if no burst follows soon
}

void InotifyRelay::release_pages() {
  if (!chunks_.empty() || touched_ == 0) return;
  ::madvise(ring_, touched_, MADV_DONTNEED);
  touched_ = 0;
  head_ = 0;
}

void InotifyRelay::run() {
  ask_for_short_slices();
  std::unique_lock lock(mu_);
  for (;;) {
    std::size_t offset = 0;
    auto may_read = [&] { return stopping_ || (armed_ && read_errno_ == 0 && room_for_read(offset)); };
    // Disarmed with pages touched: they go back once no burst has come for a while (a busy
    // tree arms and disarms every few milliseconds; faulting the ring in each time costs).
    if (!armed_ && touched_ > 0 && !cv_.wait_for(lock, std::chrono::milliseconds(kKeepPagesMs), may_read)) {
      release_pages();
    }
    cv_.wait(lock, may_read);
    if (stopping_) return;
    lock.unlock();
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    lock.lock();
    if (n <= 0 || !(p[0].revents & POLLIN)) continue;  // EINTR, or stop: the wait above says
    // Under the lock: the loop reads the instance itself only under it too, so the records
    // come out in the kernel's order whichever thread read them.
    if (stopping_ || !armed_ || read_errno_ != 0 || !room_for_read(offset)) continue;
    long got = calls_.read(fd_, ring_ + offset, kChunkBytes);
    if (got <= 0) {
      if (got < 0) {
        read_errno_ = static_cast<int>(-got);
        signal_ready();
      }
      continue;
    }
    const std::size_t size = static_cast<std::size_t>(got);
    const Chunk c{offset, size, read_emptied_queue(size, kChunkBytes)};
    head_ = offset + c.size;
    touched_ = std::max(touched_, head_);
    bytes_ += c.size;
    chunks_.push_back(c);
    signal_ready();
    if (c.emptied) {
      // The queue is empty behind this read: let records gather (up to a millisecond) rather
      // than waking for every few (docs/kernel-facts.md#inotify-read-batching); a sixteenth of
      // what the kernel's queue holds of the fastest burst (see InotifyBackend::start_relay).
      lock.unlock();
      sleep_us(gather_us_);
      lock.lock();
    }
  }
}

Result<std::size_t> InotifyRelay::drain(std::vector<RawEvent>& out, std::size_t max_events,
                                        std::vector<char>& buf) {
  std::unique_lock lock(mu_);
  // The chunks are parsed without the lock, so the thread goes on reading meanwhile (parsing
  // 16,384 records holds it for milliseconds, and a small kernel queue lasts only a few).
  // They stay at the front of chunks_ until parsed, which keeps the thread from reusing
  // their bytes; only this thread pops them.
  std::vector<Chunk> waiting(chunks_.begin(), chunks_.end());
  lock.unlock();
  std::size_t count = 0, parsed = 0;
  bool took = false;
  bool last_emptied = true;
  for (const Chunk& c : waiting) {
    if (count >= max_events) break;
    count += append_records(ring_ + c.offset, c.size, out);
    last_emptied = c.emptied;
    took = true;
    ++parsed;
  }
  lock.lock();
  for (std::size_t i = 0; i < parsed; ++i) {
    bytes_ -= chunks_.front().size;
    chunks_.pop_front();
  }
  if (chunks_.empty()) clear_ready();
  if (took) cv_.notify_one();  // room again
  if (read_errno_ != 0) {
    int err = read_errno_;
    read_errno_ = 0;
    disarm();
    return error_from_errno(err, "read inotify", "");
  }
  if (!chunks_.empty()) return count;
  // The thread's last read was full: it is still reading the burst while this batch is
  // worked on.
  if (took && armed_ && !last_emptied) return count;
  // The loop's own reads, for what the thread has not read. Running, one read: if the queue
  // holds more, the thread reads on (below).
  bool queue_empty = false;
  if (count < max_events) {
    auto r = read_queue(calls_, fd_, buf, out, max_events - count, !stopping_);
    if (!r) return r.error();
    count += r->records;
    queue_empty = r->emptied;
  }
  if (stopping_) return count;
  // The thread is needed while the loop works through a large batch (more than
  // kBurstRecords, or a queue one read could not empty), however it was read: working
  // through 16,384 records takes the loop longer than the kernel's queue lasts in a burst.
  // A small batch with the queue empty behind it needs no help.
  if (!queue_empty || count > kBurstRecords) {
    armed_ = true;
    cv_.notify_one();
  } else {
    disarm();
  }
  return count;
}

}  // namespace lookout::backend
