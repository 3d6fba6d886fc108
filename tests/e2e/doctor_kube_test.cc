// `lookout doctor` on a Kubernetes subPath mount: the kubelet bind-mounts one file from its
// volume-subpaths directory, and never updates it. Made here with a real bind mount of a file
// whose source path has the kubelet's shape (root only; unmounted at the end).
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

namespace fs = std::filesystem;

LOOKOUT_TEST(DoctorKube, ASubPathMountIsNamedAsNeverUpdating, LABELS(root)) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a bind mount";
  lookout::testing::TempDir tmp;
  const std::string src_dir = tmp / "var/lib/kubelet/pods/1234/volume-subpaths/config/app/0";
  fs::create_directories(src_dir);
  ASSERT_TRUE(write_small_file(src_dir + "/app.yaml", "v1"));
  fs::create_directories(tmp / "etc/app");
  const std::string target = tmp / "etc/app/app.yaml";
  ASSERT_TRUE(write_small_file(target, ""));
  if (::mount((src_dir + "/app.yaml").c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    GTEST_SKIP() << "bind mount refused here: " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{target};

  LookoutProcess json({"doctor", "--json", target});
  ASSERT_EQ(json.wait_exit(milliseconds(20000)), std::optional<int>(0)) << json.describe();
  EXPECT_NE(json.out().find("\"kubernetes_subpath\":true"), std::string::npos) << json.out();
  LookoutProcess text({"doctor", target});
  ASSERT_EQ(text.wait_exit(milliseconds(20000)), std::optional<int>(0)) << text.describe();
  EXPECT_NE(text.out().find("is a Kubernetes subPath mount"), std::string::npos) << text.out();
  // The volume's own directory is no subPath mount.
  LookoutProcess dir({"doctor", "--json", tmp / "etc/app"});
  ASSERT_EQ(dir.wait_exit(milliseconds(20000)), std::optional<int>(0)) << dir.describe();
  EXPECT_NE(dir.out().find("\"kubernetes_subpath\":false"), std::string::npos) << dir.out();
}

}  // namespace
}  // namespace lookout::e2e
