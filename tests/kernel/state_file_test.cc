// "What changed while I was not running": a saved model diffed against a fresh crawl.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/state_file.h"
#include "sys/file_stat.h"
#include "support/test_dirs.h"

namespace lookout {
namespace {

using testing::TempDir;

std::unique_ptr<Watcher> with_state(const std::string& root, const std::string& state) {
  WatchOptions o;
  o.paths = {root};
  o.state_file = state;
  return testing::start_watcher(o);
}

std::vector<Event> drain(Watcher& w) {
  std::vector<Event> out;
  w.next_batch(out, 0);
  return out;
}

bool has(const std::vector<Event>& evs, EventKind k, const std::string& path, const std::string& from = {}) {
  for (auto& e : evs)
    if (e.kind == k && e.path == path && (from.empty() || e.from == from)) return true;
  return false;
}

// A consumer that keeps its own record (sync's pending paths) gates the periodic save: the
// model is saved only once the record holds every event the model has seen, so a kill -9
// never leaves a model ahead of the record (the restart diff would hide those changes).
TEST(StateFile, APeriodicSaveWaitsUntilTheConsumerHasRecordedEveryEvent) {
  TempDir t, s;
  std::uint64_t durable = 0;  // the loop runs on this thread: no atomic needed here
  WatchOptions o;
  o.paths = {t.path()};
  o.state_file = s / "state";
  o.state_save_every_ms = 1;
  o.durable_through = [&] { return durable; };
  auto w = testing::start_watcher(o);
  ASSERT_TRUE(w);
  auto sub = w->subscribe(SubscribeOptions{});
  testing::write_file(t / "a", "x");
  std::vector<Event> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!has(got, EventKind::close_write, t / "a") && std::chrono::steady_clock::now() < deadline) {
    w->step(100);
    sub->try_take(got);
  }
  ASSERT_TRUE(has(got, EventKind::close_write, t / "a"));
  for (int i = 0; i < 5; ++i) w->step(5);
  EXPECT_FALSE(std::filesystem::exists(s / "state")) << "saved before the consumer recorded the events";
  // Recorded: what the subscription took is vouched for, and the next due save happens.
  durable = sub->taken_through();
  EXPECT_GT(durable, 0u);
  for (int i = 0; i < 5 && !std::filesystem::exists(s / "state"); ++i) w->step(600);
  EXPECT_TRUE(std::filesystem::exists(s / "state"));
  // Nothing new: no save (the file stays as it was).
  const auto saved = std::filesystem::last_write_time(s / "state");
  for (int i = 0; i < 3; ++i) w->step(5);
  EXPECT_EQ(std::filesystem::last_write_time(s / "state"), saved);
}

TEST(StateFile, BirthStampsSurviveSaveAndLoad) {
  TempDir s;
  core::TreeModel m;
  sys::FileStat st;
  st.type = sys::FileType::dir;
  core::NodeId root = m.add_root("/w", st);
  st.type = sys::FileType::file;
  st.ino = 7;
  st.birth = 1234567890123ull;
  st.birth_kind = sys::BirthKind::btime;
  m.add(root, "a", st, true);
  st.ino = 8;
  st.birth = 42;
  st.birth_kind = sys::BirthKind::generation;
  m.add(root, "b", st, true);
  ASSERT_TRUE(core::save_state(m, s / "state"));
  core::TreeModel back;
  ASSERT_TRUE(core::load_state(back, s / "state", {"/w"}));
  core::NodeId a = back.find_path("/w/a"), b = back.find_path("/w/b");
  ASSERT_NE(a, core::kNoNode);
  ASSERT_NE(b, core::kNoNode);
  EXPECT_EQ(back.stat(a).birth, 1234567890123ull);
  EXPECT_EQ(back.stat(a).birth_kind, sys::BirthKind::btime);
  EXPECT_EQ(back.stat(b).birth, 42u);
  EXPECT_EQ(back.stat(b).birth_kind, sys::BirthKind::generation);
}

// A state file written before birth stamps (version 1) still loads, without them, so an
// upgrade keeps "changes since the last run".
TEST(StateFile, Version1FilesLoadWithoutBirthStamps) {
  TempDir s;
  std::string buf = "LOOKOUT-STATE\n";
  auto put = [&](auto v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); };
  auto entry = [&](std::uint32_t parent, const std::string& name, sys::FileType type, std::uint64_t ino) {
    put(parent);
    put(static_cast<std::uint32_t>(name.size()));
    buf += name;
    put(static_cast<std::uint8_t>(type));
    put(std::uint8_t{1});  // stat known
    put(std::uint64_t{1});  // dev
    put(ino);
    put(std::uint64_t{3});   // size
    put(std::int64_t{10});   // mtime
    put(std::int64_t{11});   // ctime
    put(std::uint32_t{0644});
  };
  put(std::uint32_t{1});  // version
  put(std::uint32_t{1});  // roots
  put(std::uint64_t{2});  // entries of the root
  entry(0xffffffffu, "/w", sys::FileType::dir, 2);
  entry(0, "f", sys::FileType::file, 5);
  put(std::uint32_t{0x4C4B4F54});
  std::ofstream(s / "v1", std::ios::binary) << buf;
  core::TreeModel back;
  auto loaded = core::load_state(back, s / "v1", {"/w"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  core::NodeId f = back.find_path("/w/f");
  ASSERT_NE(f, core::kNoNode);
  EXPECT_EQ(back.stat(f).ino, 5u);
  EXPECT_EQ(back.stat(f).birth_kind, sys::BirthKind::none);
}

TEST(StateFile, ReportsChangesMadeWhileStopped) {
  TempDir t, s;
  testing::make_dirs(t / "dir/sub");
  testing::write_file(t / "dir/sub/f", "1");
  testing::write_file(t / "gone", "1");
  testing::write_file(t / "edit", "1");
  {
    auto w = with_state(t.path(), s / "state");
    ASSERT_TRUE(w);
    auto first = drain(*w);
    ASSERT_EQ(first.size(), 1u);  // no state yet: say so
    EXPECT_EQ(first[0].kind, EventKind::rescan);
    EXPECT_EQ(first[0].reason, "fresh");
    ASSERT_TRUE(w->save_state());
  }
  testing::rename_path(t / "dir", t / "renamed");
  ::unlink((t / "gone").c_str());
  testing::append_file(t / "edit", "more");
  testing::make_dirs(t / "new/deep");
  testing::write_file(t / "new/deep/x", "x");
  auto w = with_state(t.path(), s / "state");
  ASSERT_TRUE(w);
  auto evs = drain(*w);
  std::string all;
  for (auto& e : evs) all += std::string(event_kind_name(e.kind)) + " " + e.path + "\n";
  EXPECT_TRUE(has(evs, EventKind::rename, t / "renamed", t / "dir")) << all;
  EXPECT_TRUE(has(evs, EventKind::remove, t / "gone")) << all;
  EXPECT_TRUE(has(evs, EventKind::modify, t / "edit")) << all;
  EXPECT_TRUE(has(evs, EventKind::create, t / "new/deep/x")) << all;
  EXPECT_EQ(evs.size(), 6u) << all;  // rename, delete, modify, 3 creates
  // And it continues live.
  testing::Recorder r(*w);
  testing::write_file(t / "renamed/sub/live", "y");
  EXPECT_TRUE(r.wait_for(EventKind::create, t / "renamed/sub/live"));
}

TEST(StateFile, CorruptOrForeignStateMeansFreshRescan) {
  TempDir t, other, s;
  {
    auto w = with_state(other.path(), s / "state");
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->save_state());
  }
  auto w = with_state(t.path(), s / "state");  // a state of another tree
  ASSERT_TRUE(w);
  auto evs = drain(*w);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, "fresh");
  w.reset();
  std::ofstream(s / "state", std::ios::trunc) << "LOOKOUT-STATE\ngarbage";
  auto w2 = with_state(t.path(), s / "state");
  ASSERT_TRUE(w2);
  evs = drain(*w2);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, "fresh");
}

// Never a write through what is not a state file: a foreign regular file, a directory, a
// symlink; never an exception (a directory used to make the ifstream throw: SIGABRT).
TEST(StateFile, SaveRefusesWhatIsNotAStateFileAndLoadNeverThrows) {
  TempDir t, s;
  core::TreeModel model;
  sys::FileStat st;
  ASSERT_EQ(sys::stat_follow(t.path().c_str(), st), 0);
  model.add_root(t.path(), st);

  const std::string foreign = s / "notes.txt";
  std::ofstream(foreign) << "precious\n";
  EXPECT_EQ(*core::check_state_target(foreign), core::StateTarget::foreign);
  auto saved = core::save_state(model, foreign);
  ASSERT_FALSE(saved);
  EXPECT_NE(saved.error().message.find(foreign), std::string::npos) << saved.error().message;
  std::ifstream in(foreign);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "precious");

  const std::string dir = s / "a-dir";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  EXPECT_FALSE(core::check_state_target(dir));
  EXPECT_FALSE(core::save_state(model, dir));
  core::TreeModel loaded;
  auto l = core::load_state(loaded, dir, {t.path()});
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().message.find(dir), std::string::npos) << l.error().message;

  const std::string link = s / "a-link";
  ASSERT_EQ(::symlink(foreign.c_str(), link.c_str()), 0);
  EXPECT_FALSE(core::check_state_target(link));
  EXPECT_FALSE(core::save_state(model, link));

  // Missing and empty targets are written; the result is a state file and no temp is left.
  const std::string fresh = s / "state";
  EXPECT_EQ(*core::check_state_target(fresh), core::StateTarget::missing);
  ASSERT_TRUE(core::save_state(model, fresh));
  EXPECT_EQ(*core::check_state_target(fresh), core::StateTarget::state);
  std::ofstream(s / "empty").close();
  EXPECT_EQ(*core::check_state_target(s / "empty"), core::StateTarget::empty);
  ASSERT_TRUE(core::save_state(model, s / "empty"));
  std::size_t entries = 0;  // no temp file left behind
  if (DIR* d = ::opendir(s.path().c_str())) {
    while (dirent* e = ::readdir(d)) entries += e->d_name[0] != '.';
    ::closedir(d);
  }
  EXPECT_EQ(entries, 5u);
}

}  // namespace
}  // namespace lookout
