// --checksum with the polling backend: a write that restores size and mtime (`touch -r`) is a
// modify with checksums and not without; a quiet pass reads no file again.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "support/test_dirs.h"

namespace lookout {
namespace {

using testing::TempDir;

std::unique_ptr<Watcher> start_polled(const std::string& root, bool checksum) {
  WatchOptions o;
  o.paths = {root};
  o.backend = BackendChoice::poll;
  o.poll_min_ms = 1000000;  // only poll_now() polls
  o.poll_max_ms = 1000000;
  o.checksum = checksum;
  return testing::start_watcher(o);
}

std::vector<Event> poll(Watcher& w) {
  w.poll_now();
  std::vector<Event> got;
  w.next_batch(got, 0);
  return got;
}

void set_mtime(const std::string& path, std::time_t sec) {
  struct timespec times[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::size_t count(const std::vector<Event>& evs, EventKind kind, const std::string& path) {
  std::size_t n = 0;
  for (auto& e : evs) n += e.kind == kind && e.path == path;
  return n;
}

// Same size, same mtime, other bytes: what `cp --preserve` or `touch -r` tools leave behind.
void rewrite_keeping_size_and_mtime(const std::string& path) {
  testing::write_file(path, "content B");
  set_mtime(path, 1700000000);
}

TEST(Checksum, ContentChangeWithSizeAndMtimeRestoredIsAModify) {
  TempDir t;
  testing::make_dirs(t / "sub");
  std::string f = t / "sub/f";
  testing::write_file(f, "content A");
  set_mtime(f, 1700000000);
  auto w = start_polled(t.path(), true);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().hashed_files, 1u);
  EXPECT_EQ(w->stats().hashed_bytes, 9u);
  rewrite_keeping_size_and_mtime(f);
  auto evs = poll(*w);
  EXPECT_EQ(count(evs, EventKind::modify, f), 1u);
  // Nothing changed since: the next full pass reports nothing and reads nothing.
  auto hashed = w->stats().hashed_files;
  evs = poll(*w);
  EXPECT_TRUE(evs.empty());
  EXPECT_EQ(w->stats().hashed_files, hashed);
}

TEST(Checksum, WithoutChecksumTheSameChangeIsNoModify) {
  TempDir t;
  std::string f = t / "f";
  testing::write_file(f, "content A");
  set_mtime(f, 1700000000);
  auto w = start_polled(t.path(), false);
  ASSERT_TRUE(w);
  rewrite_keeping_size_and_mtime(f);
  auto evs = poll(*w);
  EXPECT_EQ(count(evs, EventKind::modify, f), 0u);
  EXPECT_EQ(count(evs, EventKind::attrib, f), 1u);  // only the ctime moved
  EXPECT_EQ(w->stats().hashed_files, 0u);
}

TEST(Checksum, OnlyContentThatChangedIsReadAgain) {
  TempDir t;
  for (int i = 0; i < 20; ++i) testing::write_file(t / ("f" + std::to_string(i)), "x");
  auto w = start_polled(t.path(), true);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->stats().hashed_files, 20u);
  testing::write_file(t / "f3", "y");
  auto evs = poll(*w);
  EXPECT_EQ(count(evs, EventKind::modify, t / "f3"), 1u);
  EXPECT_EQ(w->stats().hashed_files, 21u);
}

}  // namespace
}  // namespace lookout
