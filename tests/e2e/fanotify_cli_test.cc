// `lookout watch --backend fanotify` as a script sees it, where it differs from inotify: a
// filesystem mark sees lookout's own writes too, so the CLI must never report them back.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/fanotify_skip.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

constexpr milliseconds kWait(20000);

// Its output file inside the watched tree: every line written would be a modify of that file,
// reported as another line, and so on forever.
LOOKOUT_TEST(FanotifyCli, OutfileInsideTheTreeDoesNotLoop, LABELS(root)) {
  lookout::testing::TempDir tmp;
  if (std::string why = lookout::testing::fanotify_unavailable(tmp.path()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string root = tmp / "root";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  const std::string out = root + "/events.log";
  LookoutProcess lk({"watch", "-m", "-r", "--json", "--backend", "fanotify", "-o", out, root});
  ASSERT_TRUE(wait_file_contains(out, "{\"event\":\"ready\"}", kWait)) << lk.describe();
  ASSERT_EQ(::mkdir((root + "/a").c_str(), 0755), 0);
  ASSERT_TRUE(write_small_file(root + "/cookie1", ""));
  ASSERT_TRUE(wait_file_contains(out, root + "/cookie1\"", kWait)) << lk.describe();
  // Everything up to cookie1 is in the file; a loop would still be writing lines about it.
  ASSERT_TRUE(write_small_file(root + "/cookie2", ""));
  ASSERT_TRUE(wait_file_contains(out, root + "/cookie2\"", kWait)) << lk.describe();
  std::string text = read_small_file(out).value_or("");
  EXPECT_EQ(text.find("events.log"), std::string::npos) << "own output reported:\n" << text;
  EXPECT_NE(text.find(root + "/a\""), std::string::npos) << text;
  lk.signal(SIGTERM);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
  EXPECT_EQ(read_small_file(out).value_or("").find("events.log"), std::string::npos);
}

}  // namespace
}  // namespace lookout::e2e
