// The translators reach the engine only through core::EngineServices: an InotifyTranslator
// driven without a Watcher::Impl, on an engine that records what it is asked to do, a
// FakeFs and a FakeInotify. What the records mean end to end is inotify_translator_test.cc's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/inotify.h>

#include <string>
#include <vector>

#include "core/inotify_translator.h"
#include "support/fake_clock.h"
#include "support/fake_fs.h"
#include "support/fake_inotify.h"
#include "support/fake_waiter.h"

namespace lookout {
namespace {

using core::kNoNode;
using core::NodeId;
using testing::FakeClock;
using testing::FakeFs;
using testing::FakeInotify;
using testing::FakeWaiter;

// Records every call that asks the engine to act; questions get the answers of a plain
// recursive tree with no filters, no polling and no mount below the root.
class RecordingEngine final : public core::EngineServices {
 public:
  explicit RecordingEngine(core::TreeModel& model) : model_(model) {}
  std::vector<std::string> calls;

  void emit(EventKind kind, NodeId id, const std::string& from, const char*) override {
    calls.push_back(std::string("emit ") + event_kind_name(kind) + " " + model_.path(id) +
                    (from.empty() ? "" : " <- " + from));
  }
  void emit_path(EventKind kind, const std::string& path, const std::string&, bool, NodeId,
                 const char*, const sys::FileStat*) override {
    calls.push_back(std::string("emit_path ") + event_kind_name(kind) + " " + path);
  }
  bool excluded(const std::string&) const override { return false; }
  bool filters_paths() const override { return false; }
  bool listable(NodeId) const override { return true; }
  bool watched_self(NodeId id) const override { return model_.node(id).is_dir(); }
  bool at_mount_boundary(NodeId id) const override { return model_.is_root(id); }
  bool under_polled(NodeId) const override { return false; }
  void appeared(NodeId, const std::string& name, bool, const char* reason) override {
    calls.push_back("appeared " + name + " " + reason);
  }
  void vanished(NodeId, const std::string& name, const char* reason) override {
    calls.push_back("vanished " + name + " " + reason);
  }
  void root_gone(NodeId, const char* how) override { calls.push_back(std::string("root_gone ") + how); }
  bool restat(NodeId id) override {
    calls.push_back("restat " + model_.path(id));
    return true;
  }
  void note_kernel_read() override {}
  int stat_child(NodeId, const std::string&, sys::FileStat&) override { return ENOENT; }
  void note_fresh_stat(NodeId) override {}
  void restat_reporting_writes(NodeId id, EventKind) override {
    calls.push_back("restat_reporting_writes " + model_.path(id));
  }
  void check_arrived(NodeId id, const sys::FileStat&, bool) override {
    calls.push_back("check_arrived " + model_.path(id));
  }
  void note_link_change(NodeId id, EventKind, bool) override {
    calls.push_back("note_link_change " + model_.path(id));
  }
  void note_link_arrival(NodeId id) override { calls.push_back("note_link_arrival " + model_.path(id)); }
  void echo_link_changes() override { calls.push_back("echo"); }
  void catch_up(NodeId dir, bool) override { calls.push_back("catch_up " + model_.path(dir)); }
  void note_blind(NodeId dir) override { calls.push_back("note_blind " + model_.path(dir)); }
  void note_replaced_maybe(NodeId id) override { calls.push_back("note_replaced_maybe " + model_.path(id)); }
  bool any_blind() const override { return false; }
  void retry_blind(NodeId) override { calls.push_back("retry_blind"); }
  void schedule_rescan(const char* reason) override { calls.push_back(std::string("rescan ") + reason); }
  bool rescan_scheduled() const override { return false; }
  void note_overflow() override { calls.push_back("overflow"); }
  bool polling_instead(NodeId, const std::string&) override { return false; }
  bool needs_polling(const std::string&) const override { return false; }
  void poll_instead(NodeId, const std::string&) override {}
  void announce(NodeId, const char*, const std::string&, Cause) override {}
  void announce_path(const std::string&, NodeId, const char*, const std::string&, Cause) override {}
  bool has_ended() const override { return false; }
  bool has_started() const override { return true; }
  bool crawling() const override { return false; }
  std::int64_t ready_ns() const override { return 0; }

 private:
  core::TreeModel& model_;
};

class TranslatorServices : public ::testing::Test {
 protected:
  TranslatorServices() {
    fs.mkdir("/w");
    fs.write("/w/a");
    root = model.add_root("/w", stat_of("/w"));
    model.add(root, "a", stat_of("/w/a"), true);
    auto r = translator.open();
    EXPECT_TRUE(r);
    EXPECT_TRUE(translator.watch(root, "/w"));
  }
  sys::FileStat stat_of(const std::string& path) {
    sys::FileStat st;
    EXPECT_EQ(fs.stat_at(AT_FDCWD, path.c_str(), st), 0);
    return st;
  }

  FakeClock clock;
  FakeFs fs;
  FakeWaiter waiter{clock};
  FakeInotify kernel{fs};
  core::TreeModel model;
  WatchOptions opt;
  RecordingEngine engine{model};
  core::InotifyTranslator translator{engine, model, opt, fs, kernel, waiter};
  NodeId root = kNoNode;
};

TEST_F(TranslatorServices, APairedMoveIsAppliedByTheTranslatorAndReportedThroughTheEngine) {
  kernel.queue("/w", IN_MOVED_FROM, "a", 7);
  kernel.queue("/w", IN_MOVED_TO, "b", 7);
  auto got = translator.drain(16384);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, 2u);
  EXPECT_EQ(model.find_path("/w/a"), kNoNode);
  EXPECT_NE(model.find_path("/w/b"), kNoNode);
  EXPECT_EQ(engine.calls, (std::vector<std::string>{"echo", "restat /w/b", "emit rename /w/b <- /w/a",
                                                    "check_arrived /w/b", "echo", "retry_blind"}));
}

TEST_F(TranslatorServices, AnUnpairedMoveIsAskedOfTheEngineAsAMoveOut) {
  kernel.queue("/w", IN_MOVED_FROM, "a", 7);
  ASSERT_TRUE(translator.drain(16384));
  // The second look at the queue finds no MOVED_TO: the engine removes the subtree.
  EXPECT_EQ(engine.calls, (std::vector<std::string>{"echo", "retry_blind", "vanished a moved_out",
                                                    "echo", "retry_blind"}));
}

TEST_F(TranslatorServices, AnOverflowIsTheEnginesToCountAndRescan) {
  kernel.queue(-1, IN_Q_OVERFLOW);
  ASSERT_TRUE(translator.drain(16384));
  EXPECT_EQ(engine.calls, (std::vector<std::string>{"overflow", "echo", "retry_blind"}));
}

TEST_F(TranslatorServices, AWatchedDirectorysOwnDeleteIsLeftToTheKernelsReport) {
  // The root is watched: its DELETE_SELF will come on its watch, so vanished() must not
  // report it; a node without a watch is the engine's to report.
  EXPECT_TRUE(translator.owns_delete_self(root));
  EXPECT_FALSE(translator.owns_delete_self(model.find_path("/w/a")));
}

}  // namespace
}  // namespace lookout
