// Renames racing with lookout's crawl of a directory that just appeared, through the binary.
// Each trial is a few syscalls back to back (faster than lookout can read its queue); then a
// cookie, then a file written inside every renamed directory, then another cookie. Every
// file must be reported and the events must add up to the tree on disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <set>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"

namespace lookout::e2e {
namespace {

constexpr int kTrials = 100;

class RenameRace : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "root";
    outside = tmp / "outside";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  }

  void start() {
    consumer.emplace(root, snapshot_tree(root));
    lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"watch", "-m", "-r", "--json", "-q", root});
    auto ready = lk->next_record('\n', milliseconds(20000));
    ASSERT_TRUE(ready && *ready == "{\"event\":\"ready\"}") << lk->describe();
  }

  void take(const std::string& rec) {
    consumer->apply_line(rec);
    auto o = parse_json_line(rec);
    if (o && (*o)["event"] == "create") created.insert(json_path(*o, "path"));
  }

  // Creates a cookie and reads events until its create; false on timeout.
  bool sync(const std::string& name) {
    std::string cookie = root + "/" + name;
    if (!write_small_file(cookie, "")) return false;
    auto end = Clock::now() + milliseconds(30000);
    while (Clock::now() < end) {
      auto rec = lk->next_record('\n', std::chrono::duration_cast<milliseconds>(end - Clock::now()));
      if (!rec) return false;
      take(*rec);
      if (created.count(cookie)) return true;
    }
    return false;
  }

  // The `later` files (absolute paths) whose create was never reported.
  std::vector<std::string> unreported(const std::vector<std::string>& files) const {
    std::vector<std::string> out;
    for (auto& f : files) {
      if (!created.count(f)) out.push_back(f);
    }
    return out;
  }

  void check(const std::vector<std::string>& later_files, const std::string& what) {
    auto missing = unreported(later_files);
    std::string list;
    for (std::size_t i = 0; i < missing.size() && i < 5; ++i) list += "\n  " + printable(missing[i]);
    std::cerr << "[ rename race ] " << what << ": " << (later_files.size() - missing.size()) << "/"
              << later_files.size() << " later files reported\n";
    EXPECT_TRUE(missing.empty()) << missing.size() << " of " << later_files.size()
                                 << " files written into renamed directories were never reported, e.g." << list;
    std::string diff = diff_trees(snapshot_tree(root), consumer->tree(), 20);
    EXPECT_EQ(diff, "") << "the events do not add up to the tree on disk";
    EXPECT_TRUE(consumer->anomalies().empty()) << consumer->anomaly_report();
  }

  lookout::testing::TempDir tmp;
  std::string root, outside;
  std::unique_ptr<LookoutProcess> lk;
  std::optional<ConsumerTree> consumer;
  std::set<std::string> created;
};

void must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + errno_text(errno));
}

// mkdir D; write D/file; mv D D2 — before lookout has looked inside D.
TEST_F(RenameRace, NewDirectoryRenamedAtOnce) {
  start();
  std::vector<std::string> later;
  for (int k = 0; k < kTrials; ++k) {
    std::string n = root + "/new" + std::to_string(k), r = root + "/renamed" + std::to_string(k);
    must(::mkdir(n.c_str(), 0755) == 0, "mkdir " + n);
    must(write_small_file(n + "/file", "x"), "write " + n + "/file");
    must(::rename(n.c_str(), r.c_str()) == 0, "rename " + n);
    later.push_back(r + "/later");
  }
  ASSERT_TRUE(sync("cookie1")) << lk->describe();
  for (auto& f : later) must(write_small_file(f, "y"), "write " + f);
  ASSERT_TRUE(sync("cookie2")) << lk->describe();
  check(later, "mkdir+write+rename");
}

// mv OUTSIDE/src ROOT/in; mv ROOT/in ROOT/moved — a populated directory moved in and renamed
// before lookout has crawled it.
TEST_F(RenameRace, MovedInDirectoryRenamedAtOnce) {
  for (int k = 0; k < kTrials; ++k) {
    std::string s = outside + "/src" + std::to_string(k);
    must(::mkdir(s.c_str(), 0755) == 0 && ::mkdir((s + "/sub").c_str(), 0755) == 0, "mkdir " + s);
    must(write_small_file(s + "/sub/file", "x"), "write");
  }
  start();
  std::vector<std::string> later;
  for (int k = 0; k < kTrials; ++k) {
    std::string s = outside + "/src" + std::to_string(k), in = root + "/in" + std::to_string(k),
                m = root + "/moved" + std::to_string(k);
    must(::rename(s.c_str(), in.c_str()) == 0, "move in " + s);
    must(::rename(in.c_str(), m.c_str()) == 0, "rename " + in);
    later.push_back(m + "/sub/later");
  }
  ASSERT_TRUE(sync("cookie1")) << lk->describe();
  for (auto& f : later) must(write_small_file(f, "y"), "write " + f);
  ASSERT_TRUE(sync("cookie2")) << lk->describe();
  check(later, "move in+rename");
}

// mv OUTSIDE/big ROOT/big; mv ROOT/existing ROOT/big/sub/existing — a watched directory moved
// into one lookout has not crawled yet (the rename's MOVED_TO has no watch to come from).
TEST_F(RenameRace, WatchedDirectoryMovedIntoOneBeingCrawled) {
  for (int k = 0; k < kTrials; ++k) {
    std::string e = root + "/existing" + std::to_string(k), b = outside + "/big" + std::to_string(k);
    must(::mkdir(e.c_str(), 0755) == 0, "mkdir " + e);
    must(write_small_file(e + "/e", "x"), "write");
    must(::mkdir(b.c_str(), 0755) == 0 && ::mkdir((b + "/sub").c_str(), 0755) == 0, "mkdir " + b);
  }
  start();
  std::vector<std::string> later;
  for (int k = 0; k < kTrials; ++k) {
    std::string ks = std::to_string(k);
    std::string big_out = outside + "/big" + ks, big = root + "/big" + ks, e = root + "/existing" + ks,
                dst = big + "/sub/existing";
    must(::rename(big_out.c_str(), big.c_str()) == 0, "move in " + big_out);
    must(::rename(e.c_str(), dst.c_str()) == 0, "rename " + e);
    later.push_back(dst + "/later");
  }
  ASSERT_TRUE(sync("cookie1")) << lk->describe();
  for (auto& f : later) must(write_small_file(f, "y"), "write " + f);
  ASSERT_TRUE(sync("cookie2")) << lk->describe();
  check(later, "move into a directory being crawled");
}

}  // namespace
}  // namespace lookout::e2e
