// EngineFixture: the engine (Watcher::Impl) without a kernel, for the translator tests. A FakeFs
// holds the tree (the root is /w), a FakeClock and FakeWaiter the time; the derived fixture
// brings the fake kernel of its backend as seams to start_with(). step() is driven by hand on
// the test's thread, and what the log holds for the primary consumer comes out as Seen rows.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/watcher_impl.h"
#include "support/fake_clock.h"
#include "support/fake_fs.h"
#include "support/fake_waiter.h"

namespace lookout::testing {

// One reported event, as the translator tests compare them.
struct Seen {
  EventKind kind;
  std::string path;
  std::string from;  // rename's source, or rescan's reason
  bool operator==(const Seen& o) const {
    return kind == o.kind && path == o.path && from == o.from;
  }
};

inline std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << event_kind_name(s.kind) << " " << s.path << (s.from.empty() ? "" : " <- " + s.from);
}

class EngineFixture : public ::testing::Test {
 protected:
  explicit EngineFixture(BackendChoice backend) {
    fs.mkdir("/w");
    opt.backend = backend;
    opt.paths = {"/w"};
  }
  // The watcher goes first: it may still call the derived fixture's fake kernel, a member
  // destroyed before this base's.
  void TearDown() override { w.reset(); }

  // Creates and starts the watcher on `seams` (the fake kernel), steps it `settle_steps`
  // times, and drops what it has reported so far.
  void start_with(core::WatcherSeams seams, int settle_steps) {
    w = std::make_unique<Watcher::Impl>(opt, std::move(seams));
    auto r = w->start();
    ASSERT_TRUE(r) << r.error().message;
    for (int i = 0; i < settle_steps; ++i) w->step(0);
    take();
  }
  // One step, then everything it reported but `backend` decisions.
  std::vector<Seen> step() {
    alive = w->step(0);
    return take();
  }
  std::vector<Seen> take() {
    std::vector<Event> out;
    w->log.take(*w->primary, out, 0);
    std::vector<Seen> seen;
    for (const Event& e : out) {
      if (e.kind == EventKind::backend) continue;
      seen.push_back(Seen{e.kind, e.path, e.kind == EventKind::rename ? e.from : e.reason});
    }
    return seen;
  }

  // Expects `seen` to be what a step reports after an overflow: the rescan first, then
  // `found`, given in path order (the rescan reports in the order of its listing).
  static void expect_overflow_rescan(std::vector<Seen> seen, const std::vector<Seen>& found) {
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), (Seen{EventKind::rescan, "", "overflow"}));
    std::sort(seen.begin() + 1, seen.end(),
              [](const Seen& a, const Seen& b) { return a.path < b.path; });
    EXPECT_EQ(std::vector<Seen>(seen.begin() + 1, seen.end()), found);
  }

  FakeClock clock;
  FakeFs fs;
  FakeWaiter waiter{clock};
  WatchOptions opt;
  std::unique_ptr<Watcher::Impl> w;
  bool alive = true;  // what the last step() returned
};

}  // namespace lookout::testing
