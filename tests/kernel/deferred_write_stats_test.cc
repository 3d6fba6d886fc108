// The behaviour suite's rows for WatchOptions::stat_writes off (what `tail` runs with): write
// records are reported without a stat and the stamps are read later, on every backend and
// filesystem. Every write is still reported, a rename after writes is no second `modify`, and
// a write through one name of a hard-linked file is still reported under the others.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kernel/behaviour.h"

namespace lookout {
namespace {

using namespace behaviour;  // NOLINT: the suite's fixture and helpers

TEST_P(Behaviour, WithoutWriteStatsEveryWriteRenameAndHardLinkIsReported) {
  TempDir t(base());
  make_grid(t, 3, 3);
  testing::write_file(t / "h", "1");
  ASSERT_EQ(::link((t / "h").c_str(), (t / "d0/h2").c_str()), 0);
  WatchOptions o = opts_for(t.path());
  o.stat_writes = false;
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  Recorder r(*w);
  ASSERT_TRUE(wait_crawled(r, *w));
  // The first write of a file listed at start takes its stat (who it is); later ones do not.
  expect_every_write_reported(r, t, 3, 3);
  r.clear();
  for (int round = 0; round < 3; ++round) {
    expect_every_write_reported(r, t, 3, 3);
  }
  if (!polling()) {
    for (const auto& e : r.events()) {
      if (e.kind == EventKind::modify || e.kind == EventKind::close_write) {
        EXPECT_FALSE(e.stat) << "a stat from before the write: " << e.path;
      }
    }
  }
  // Renamed after writes whose stamps were not read: one rename, no "stamps" modify. (A
  // polling pass may see the last write and the rename at once; the option changes nothing
  // there, passes compare stamps anyway.)
  r.clear();
  testing::rename_path(t / grid_dir(0, 0) + "/f", t / grid_dir(0, 0) + "/g");
  ASSERT_TRUE(r.wait_for(EventKind::rename, t / grid_dir(0, 0) + "/g", t / grid_dir(0, 0) + "/f")) << r.dump();
  ASSERT_TRUE(r.sync(t / "cookie")) << r.dump();
  if (!polling()) EXPECT_EQ(r.count(EventKind::modify, t / grid_dir(0, 0) + "/g"), 0u) << r.dump();
  // A hard-linked file is written through one name: the other is reported too.
  testing::append_file(t / "h", "2");
  ASSERT_TRUE(r.wait_for(EventKind::modify, t / "d0/h2")) << r.dump();
}

}  // namespace
}  // namespace lookout
