// ParallelStack: a depth-first walk over work items shared by a few threads, the caller's
// included. Each thread works LIFO on its own stack, so a walk stays depth-first and keeps
// little in flight, and hands the older half of its stack (the items nearest the top of the
// tree, so the largest subtrees) to a shared pool whenever another thread has run dry.
// run() returns once every item, including every item pushed while processing, was handled.
// fn runs concurrently on `threads` threads: it must only share state that is safe for that.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

namespace lookout::core {

template <typename Item>
class ParallelStack {
 public:
  // fn(Item&& item, unsigned worker, std::vector<Item>& push): handles one item and appends
  // the items it discovers to `push`. `worker` is in [0, threads); 0 is the calling thread.
  template <typename Fn>
  static void run(std::vector<Item> seeds, unsigned threads, Fn&& fn) {
    if (threads <= 1) {
      std::vector<Item> stack = std::move(seeds);
      while (!stack.empty()) {
        Item it = std::move(stack.back());
        stack.pop_back();
        fn(std::move(it), 0u, stack);
      }
      return;
    }
    ParallelStack shared(std::move(seeds), threads);
    std::vector<std::thread> helpers;
    helpers.reserve(threads - 1);
    for (unsigned w = 1; w < threads; ++w)
      helpers.emplace_back([&shared, &fn, w] { shared.work(w, fn); });
    shared.work(0, fn);
    for (auto& t : helpers) t.join();
  }

 private:
  ParallelStack(std::vector<Item> seeds, unsigned threads)
      : pool_(std::move(seeds)), threads_(threads) {}

  template <typename Fn>
  void work(unsigned worker, Fn& fn) {
    std::vector<Item> local;
    for (;;) {
      if (local.empty() && !refill(local)) return;
      Item it = std::move(local.back());
      local.pop_back();
      fn(std::move(it), worker, local);
      // Checked without the lock on every item: sharing costs a lock only when someone waits.
      if (hungry_.load(std::memory_order_relaxed) > 0 && local.size() > 1) share(local);
    }
  }

  // Waits for work from the pool; false once every thread is idle and the pool is empty.
  bool refill(std::vector<Item>& local) {
    std::unique_lock lock(mu_);
    ++idle_;
    hungry_.fetch_add(1, std::memory_order_relaxed);
    cv_.wait(lock, [&] { return !pool_.empty() || done_ || idle_ == threads_; });
    hungry_.fetch_sub(1, std::memory_order_relaxed);
    if (pool_.empty()) {
      done_ = true;
      cv_.notify_all();
      return false;
    }
    --idle_;
    // Take half, at least one: the rest stays for the other hungry threads.
    std::size_t take = std::max<std::size_t>(1, pool_.size() / 2);
    auto first = pool_.end() - static_cast<std::ptrdiff_t>(take);
    local.insert(local.end(), std::make_move_iterator(first), std::make_move_iterator(pool_.end()));
    pool_.erase(first, pool_.end());
    return true;
  }

  void share(std::vector<Item>& local) {
    std::size_t give = local.size() / 2;
    auto last = local.begin() + static_cast<std::ptrdiff_t>(give);
    {
      std::lock_guard lock(mu_);
      // A waiting thread may not have woken yet to take what was given before.
      if (!pool_.empty()) return;
      pool_.insert(pool_.end(), std::make_move_iterator(local.begin()),
                   std::make_move_iterator(last));
    }
    local.erase(local.begin(), last);
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> pool_;
  unsigned threads_;
  unsigned idle_ = 0;
  bool done_ = false;
  std::atomic<unsigned> hungry_{0};
};

}  // namespace lookout::core
