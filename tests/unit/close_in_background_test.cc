#include "sys/close_in_background.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace lookout::sys {
namespace {

// True once `fd`'s number no longer refers to the file `ino` on device `dev` (closed, or
// closed and reused by another open).
bool closed_within(int fd, dev_t dev, ino_t ino, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(CloseInBackground, AnInotifyInstanceWithAMarkIsClosed) {
  const int in = ::inotify_init1(IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, "/", IN_OPEN | IN_ONLYDIR), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(in, &st), 0);
  close_in_background(UniqueFd(in));
  EXPECT_TRUE(closed_within(in, st.st_dev, st.st_ino, std::chrono::seconds(30)));
}

TEST(CloseInBackground, NoFdIsNothingToDo) {
  close_in_background(UniqueFd());  // must neither crash nor close anything
  const int fd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::fcntl(fd, F_GETFD), FD_CLOEXEC);
  ::close(fd);
}

}  // namespace
}  // namespace lookout::sys
