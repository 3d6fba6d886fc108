#include "sys/close_in_background.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

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

// What a caller that counts free fds relies on (tests filling the fd table): once the wait
// returns, every fd handed over is closed, with no polling.
TEST(CloseInBackground, TheWaitReturnsOnceEveryHandedOverFdIsClosed) {
  std::vector<std::pair<int, struct stat>> handed;
  for (int i = 0; i < 4; ++i) {
    const int in = ::inotify_init1(IN_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(::inotify_add_watch(in, "/", IN_OPEN | IN_ONLYDIR), 0);  // its close waits
    struct stat st {};
    ASSERT_EQ(::fstat(in, &st), 0);
    handed.emplace_back(in, st);
    close_in_background(UniqueFd(in));
  }
  wait_for_background_closes();
  for (const auto& [fd, st] : handed) {
    struct stat now {};
    EXPECT_TRUE(::fstat(fd, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        << "fd " << fd << " still open after the wait";
  }
  wait_for_background_closes();  // nothing pending: returns at once
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
