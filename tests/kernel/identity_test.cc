// File identity on a real ext4 (loop-mounted, root only): ext4 hands a freed inode number to
// the next new file at once (docs/kernel-facts.md#ext4-reuses-inode-numbers), so a delete plus a
// create of a file with the same size and mtime looks like a rename to anything that keys on (dev,
// ino) and the stamps. The polling backend must report delete + create there, and still one rename
// for a real rename. Run on a default ext4 (birth time from statx) and on one with 128-byte inodes,
// which keep no birth time, so the inode generation (FS_IOC_GETVERSION) must do the job.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/loop_mount.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"
#include "sys/file_stat.h"

namespace lookout {
namespace {

struct Polled {
  std::unique_ptr<Watcher> w;
  explicit Polled(const std::string& root) {
    WatchOptions o;
    o.paths = {root};
    o.backend = BackendChoice::poll;
    o.poll_min_ms = 1000000;  // only poll_now() polls
    o.poll_max_ms = 1000000;
    w = testing::start_watcher(o);
  }
  std::vector<Event> poll() {
    w->poll_now();
    std::vector<Event> got;
    w->next_batch(got, 0);
    return got;
  }
};

std::string describe(const std::vector<Event>& evs) {
  std::string s;
  for (auto& e : evs) {
    s += std::string(event_kind_name(e.kind)) + " " + e.path + (e.from.empty() ? "" : " <- " + e.from) + "\n";
  }
  return s;
}

ino_t inode_of(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Same content, hence the same size, and the same mtime: only identity tells files apart.
void write_stamped(const std::string& path) {
  testing::write_file(path, "same content");
  struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

void check_reuse_and_rename(const std::string& root, sys::BirthKind expected_kind) {
  std::string a = root + "/a", b = root + "/b", c = root + "/c";
  write_stamped(a);
  sys::FileStat st;
  ASSERT_EQ(sys::stat_at(AT_FDCWD, a.c_str(), st), 0);
  ASSERT_EQ(st.birth_kind, expected_kind) << "the fixture does not exercise what it claims to";
  Polled p(root);
  ASSERT_TRUE(p.w);

  // Delete a, create b: retry until b really gets a's inode number (ext4 does it at once,
  // but nothing guarantees it); each failed try is polled away first.
  bool reused = false;
  for (int attempt = 0; attempt < 10 && !reused; ++attempt) {
    ino_t old_ino = inode_of(a);
    ASSERT_NE(old_ino, 0u);
    ASSERT_EQ(::unlink(a.c_str()), 0);
    write_stamped(b);
    reused = inode_of(b) == old_ino;
    if (!reused) {
      testing::rename_path(b, a);
      p.poll();
    }
  }
  ASSERT_TRUE(reused) << "ext4 never reused the inode number in 10 tries";
  auto evs = p.poll();
  std::size_t renames = 0, removes = 0, creates = 0;
  for (auto& e : evs) {
    renames += e.kind == EventKind::rename;
    removes += e.kind == EventKind::remove && e.path == a;
    creates += e.kind == EventKind::create && e.path == b;
  }
  EXPECT_EQ(renames, 0u) << describe(evs);
  EXPECT_EQ(removes, 1u) << describe(evs);
  EXPECT_EQ(creates, 1u) << describe(evs);

  // A real rename of a file with the very same stats stays one rename.
  testing::rename_path(b, c);
  evs = p.poll();
  ASSERT_EQ(evs.size(), 1u) << describe(evs);
  EXPECT_EQ(evs[0].kind, EventKind::rename);
  EXPECT_EQ(evs[0].path, c);
  EXPECT_EQ(evs[0].from, b);
}

void skip_unless_possible() {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to loop-mount an ext4 image";
  if (!testing::have_program("mkfs.ext4")) GTEST_SKIP() << "mkfs.ext4 missing (apt-get install e2fsprogs)";
}

LOOKOUT_TEST(Identity, ReusedInodeIsDeleteAndCreateOnExt4WithBirthTime, LABELS(root)) {
  skip_unless_possible();
  if (::testing::Test::IsSkipped()) return;
  testing::LoopMount m("mkfs.ext4 -q -F");
  ASSERT_TRUE(m.ok()) << m.why();
  check_reuse_and_rename(m.path(), sys::BirthKind::btime);
}

LOOKOUT_TEST(Identity, ReusedInodeIsDeleteAndCreateOnExt4WithGenerationOnly, LABELS(root)) {
  skip_unless_possible();
  if (::testing::Test::IsSkipped()) return;
  // 128-byte inodes have no room for the creation time: statx reports no STATX_BTIME.
  testing::LoopMount m("mkfs.ext4 -q -F -I 128");
  ASSERT_TRUE(m.ok()) << m.why();
  check_reuse_and_rename(m.path(), sys::BirthKind::generation);
}

}  // namespace
}  // namespace lookout
