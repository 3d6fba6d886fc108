// Micro benchmarks: model insertion/lookup and the diff engine on synthetic trees, and the
// polling pass on a real tree named by $LOOKOUT_BENCH_TREE (bench/poll_compare.py sets it;
// the BM_Poll* cases are skipped without it).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "backend/poll_scanner.h"
#include "core/event_log.h"
#include "core/tree_diff.h"
#include "core/tree_model.h"
#include "core/tree_scanner.h"

using lookout::core::NodeId;
using lookout::core::TreeModel;

namespace {
// files_stat_known false: files as the initial crawl enters them (type and inode from the
// listing, no stat).
void build(TreeModel& m, int dirs, int files_per_dir, bool files_stat_known = true) {
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
      if (!files_stat_known) f.dev = d.dev;  // what the scanner gives a listed file
      m.add(dir, "f" + std::to_string(j), f, files_stat_known);
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

// The tree as a first crawl leaves it (directories stat'ed, files only listed), with the
// bytes per entry of the node and stat tables (not the name index nor the names' arena).
void BM_ModelBuildListed(benchmark::State& state) {
  std::size_t entries = 0, stats = 0;
  for (auto _ : state) {
    TreeModel m;
    build(m, static_cast<int>(state.range(0)), 10, false);
    entries = m.size();
    stats = m.stat_count();
    benchmark::DoNotOptimize(entries);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 11);
  state.counters["bytes_per_entry"] = static_cast<double>(
      entries * sizeof(lookout::core::Node) + stats * sizeof(lookout::sys::FileStat)) / entries;
}
BENCHMARK(BM_ModelBuildListed)->Arg(10000);

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
// One polling pass over a quiet tree as the watcher runs it: scan, then diff what changed
// (nothing) into the live model. Full stats every entry; pruned stats directories. The
// argument is the number of scanning threads (0: the default for this machine).
void poll_pass_bench(benchmark::State& state, bool full, bool touch_root = false) {
  const char* tree = std::getenv("LOOKOUT_BENCH_TREE");
  if (!tree) {
    state.SkipWithError("set LOOKOUT_BENCH_TREE to a directory to scan");
    return;
  }
  // The live model as `lookout watch` builds it at start: one crawl, no second model, so the
  // process's peak RSS is the watcher's plus one pass.
  TreeModel live;
  lookout::sys::FileStat root_st;
  if (lookout::sys::stat_follow(tree, root_st) != 0) {
    state.SkipWithError("cannot stat LOOKOUT_BENCH_TREE");
    return;
  }
  NodeId root = live.add_root(tree, root_st);
  lookout::core::TreeScanner(live, {}).scan(root);
  auto threads = static_cast<unsigned>(state.range(0));
  lookout::core::DiffSink sink;
  std::size_t entries = live.size();
  std::string probe = std::string(tree) + "/microbench-probe";
  bool present = false;
  for (auto _ : state) {
    if (touch_root) {
      present ? ::unlink(probe.c_str()) : ::close(::open(probe.c_str(), O_CREAT | O_WRONLY, 0644));
      present = !present;
    }
    TreeModel fresh;
    lookout::backend::PollScan scan;
    lookout::backend::poll_scan(live, root, fresh, tree, full, {}, {}, scan, threads);
    auto stats = lookout::backend::reconcile_poll(live, root, fresh, scan, sink);
    benchmark::DoNotOptimize(stats.total());
  }
  if (present) ::unlink(probe.c_str());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entries));
  state.counters["entries"] = static_cast<double>(entries);
}

void BM_PollPassFull(benchmark::State& state) { poll_pass_bench(state, true); }
void BM_PollPassPruned(benchmark::State& state) { poll_pass_bench(state, false); }
// The costly case of a pruned pass: a file created or deleted in the root directory, so the
// subtree to rebuild and diff is the whole tree.
void BM_PollPassRootChange(benchmark::State& state) { poll_pass_bench(state, false, true); }
// Real time, and the CPU of every thread of the process: the scan uses worker threads.
BENCHMARK(BM_PollPassFull)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PollPassRootChange)
    ->Arg(0)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PollPassPruned)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
// The event log's hand-over: 10 000 creates appended then taken, by 1 reader (`lookout watch`,
// whose events move out of the log) or by several (each copies what it takes).
void BM_EventLogAppendTake(benchmark::State& state) {
  const int readers = static_cast<int>(state.range(0));
  std::vector<std::string> paths;
  for (int i = 0; i < 10000; ++i) paths.push_back("/srv/www/d" + std::to_string(i % 100) + "/f" + std::to_string(i));
  for (auto _ : state) {
    lookout::core::EventLog log;
    std::vector<std::shared_ptr<lookout::core::Reader>> rs;
    lookout::SubscribeOptions o;
    o.max_behind = 100000;
    for (int r = 0; r < readers; ++r) rs.push_back(log.add_reader(o, false));
    for (const auto& p : paths) {
      lookout::Event e;
      e.kind = lookout::EventKind::create;
      e.path = p;
      log.append(std::move(e));
    }
    std::vector<lookout::Event> out;
    for (auto& r : rs) {
      out.clear();
      log.try_take(*r, out, SIZE_MAX);
      benchmark::DoNotOptimize(out.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * 10000);
}
BENCHMARK(BM_EventLogAppendTake)->Arg(1)->Arg(3)->Unit(benchmark::kMicrosecond);
}  // namespace

BENCHMARK_MAIN();
