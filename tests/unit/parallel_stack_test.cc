// ParallelStack: every item, including those pushed while working, is handled exactly once,
// whatever the number of threads and however unbalanced the tree.
#include "core/parallel_stack.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <vector>

namespace lookout::core {
namespace {

// Item n has children fanout*n+1 .. fanout*n+fanout, below `limit`: an implicit tree.
void walk(unsigned threads, unsigned fanout, unsigned limit, std::vector<unsigned> seeds) {
  auto seen = std::make_unique<std::atomic<int>[]>(limit);
  std::atomic<unsigned> max_worker{0};
  ParallelStack<unsigned>::run(
      std::move(seeds), threads, [&](unsigned&& n, unsigned worker, std::vector<unsigned>& push) {
        seen[n].fetch_add(1);
        unsigned m = max_worker.load();
        while (worker > m && !max_worker.compare_exchange_weak(m, worker)) {
        }
        for (unsigned k = 1; k <= fanout; ++k) {
          unsigned c = fanout * n + k;
          if (c < limit) push.push_back(c);
        }
      });
  for (unsigned i = 0; i < limit; ++i) ASSERT_EQ(seen[i].load(), 1) << "item " << i;
  EXPECT_LT(max_worker.load(), std::max(threads, 1u));
}

TEST(ParallelStack, HandlesEveryItemOnceOnOneThread) { walk(1, 10, 10000, {0}); }

TEST(ParallelStack, HandlesEveryItemOnceOnSeveralThreads) {
  for (unsigned threads : {2u, 3u, 4u, 8u}) {
    for (int round = 0; round < 20; ++round) walk(threads, 10, 20000, {0});
  }
}

TEST(ParallelStack, DeepChainAndWideFan) {
  walk(4, 1, 5000, {0});      // a chain: only one item is ever available
  walk(4, 1000, 50000, {0});  // one huge fan-out
}

TEST(ParallelStack, NoSeedsReturnsAtOnce) {
  for (unsigned threads : {1u, 2u, 4u}) {
    std::atomic<int> calls{0};
    ParallelStack<unsigned>::run({}, threads,
                                 [&](unsigned&&, unsigned, std::vector<unsigned>&) { ++calls; });
    EXPECT_EQ(calls.load(), 0);
  }
}

}  // namespace
}  // namespace lookout::core
