// The mkdir -p race through the binary: a file written at the bottom of a directory chain
// created faster than lookout can add watches must still be reported, every time.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <set>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

LOOKOUT_TEST(MkdirRace, FileAtTheBottomOfAFreshChainIsAlwaysReported, LABELS(slow)) {
  constexpr int kTrials = 1000;
  lookout::testing::TempDir tmp;
  const std::string root = tmp / "root";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  const TreeSnapshot start = snapshot_tree(root);

  LookoutProcess lk({"watch", "-m", "-r", "--json", "-q", root});
  auto ready = lk.next_record('\n', milliseconds(20000));
  ASSERT_TRUE(ready && *ready == "{\"event\":\"ready\"}") << lk.describe();

  ConsumerTree consumer(root, start);
  std::set<std::string> created;
  auto take = [&](const std::string& rec) {
    consumer.apply_line(rec);
    auto o = parse_json_line(rec);
    if (o && (*o)["event"] == "create") created.insert(json_path(*o, "path"));
  };

  for (int n = 0; n < kTrials; ++n) {
    std::string p = root + "/t" + std::to_string(n);
    for (const char* part : {"", "/a", "/b", "/c", "/d"}) {
      p += part;
      ASSERT_EQ(::mkdir(p.c_str(), 0755), 0) << p << ": " << errno_text(errno);
    }
    ASSERT_TRUE(write_small_file(p + "/f", "data")) << p << "/f";
    if (n % 16 == 15) {
      lk.pump(0);
      while (auto rec = lk.next_record('\n', milliseconds(0))) take(*rec);
    }
  }

  const std::string cookie = root + "/cookie";
  ASSERT_TRUE(write_small_file(cookie, ""));
  bool synced = false;
  auto end = Clock::now() + milliseconds(60000);
  while (!synced && Clock::now() < end) {
    auto rec = lk.next_record('\n', std::chrono::duration_cast<milliseconds>(end - Clock::now()));
    if (!rec) break;
    take(*rec);
    synced = created.count(cookie) > 0;
  }
  ASSERT_TRUE(synced) << "cookie never reported\n" << lk.describe();

  std::vector<int> missing;
  for (int n = 0; n < kTrials; ++n) {
    if (!created.count(root + "/t" + std::to_string(n) + "/a/b/c/d/f")) missing.push_back(n);
  }
  std::string list;
  for (std::size_t i = 0; i < missing.size() && i < 30; ++i) list += " t" + std::to_string(missing[i]);
  std::cerr << "[ mkdir race ] " << (kTrials - static_cast<int>(missing.size())) << "/" << kTrials
            << " files reported, " << consumer.rescans() << " rescans\n";
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << kTrials
                               << " files at the bottom of a fresh chain were never reported:" << list;
  EXPECT_EQ(diff_trees(snapshot_tree(root), consumer.tree()), "");
  EXPECT_TRUE(consumer.anomalies().empty()) << consumer.anomaly_report();
}

}  // namespace
}  // namespace lookout::e2e
