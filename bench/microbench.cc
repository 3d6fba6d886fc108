// Micro benchmarks: model insertion/lookup and the diff engine on synthetic trees.
#include <benchmark/benchmark.h>

#include <string>

#include "core/tree_diff.h"
#include "core/tree_model.h"

using lookout::core::NodeId;
using lookout::core::TreeModel;

namespace {
void build(TreeModel& m, int dirs, int files_per_dir) {
  lookout::sys::FileStat d;
  d.type = lookout::sys::FileType::dir;
  NodeId root = m.add_root("/r", d);
  for (int i = 0; i < dirs; ++i) {
    d.ino = 1000000 + i;
    NodeId dir = m.add(root, "d" + std::to_string(i), d, true);
    for (int j = 0; j < files_per_dir; ++j) {
      lookout::sys::FileStat f;
      f.type = lookout::sys::FileType::file;
      f.ino = static_cast<std::uint64_t>(i) * 1000 + j;
      m.add(dir, "f" + std::to_string(j), f, true);
    }
  }
}

void BM_ModelBuild(benchmark::State& state) {
  for (auto _ : state) {
    TreeModel m;
    build(m, static_cast<int>(state.range(0)), 10);
    benchmark::DoNotOptimize(m.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 11);
}
BENCHMARK(BM_ModelBuild)->Arg(1000)->Arg(10000);

void BM_DiffIdentical(benchmark::State& state) {
  TreeModel a, b;
  build(a, static_cast<int>(state.range(0)), 10);
  build(b, static_cast<int>(state.range(0)), 10);
  NodeId ra = a.find(lookout::core::kTopNode, "/r"), rb = b.find(lookout::core::kTopNode, "/r");
  lookout::core::DiffSink sink;
  for (auto _ : state) {
    auto stats = lookout::core::reconcile(a, ra, b, rb, sink);
    benchmark::DoNotOptimize(stats.total());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 11);
}
BENCHMARK(BM_DiffIdentical)->Arg(1000)->Arg(10000);
}  // namespace

BENCHMARK_MAIN();
