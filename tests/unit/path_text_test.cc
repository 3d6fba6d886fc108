// sys::absolute_path: the one text-only normalizer the engine's roots and run's paths share.
#include "sys/path_text.h"

#include <gtest/gtest.h>

namespace lookout::sys {
namespace {

TEST(PathText, AbsolutePathJoinsAndCollapsesByTextAlone) {
  EXPECT_EQ(absolute_path("/home/u", "a/b"), "/home/u/a/b");
  EXPECT_EQ(absolute_path("/home/u", "."), "/home/u");
  EXPECT_EQ(absolute_path("/home/u", ""), "/home/u");
  EXPECT_EQ(absolute_path("/home/u", "./a/./b/."), "/home/u/a/b");
  EXPECT_EQ(absolute_path("/", "a"), "/a");
  EXPECT_EQ(absolute_path("/x", "/srv//www///"), "/srv/www");
  EXPECT_EQ(absolute_path("/x", "/"), "/");
  EXPECT_EQ(absolute_path("/x", "//"), "/");
  // Symlinks and ".." are kept as named: only the filesystem could resolve them.
  EXPECT_EQ(absolute_path("/x", "../y"), "/x/../y");
  // Names are bytes: a newline or invalid UTF-8 passes through.
  EXPECT_EQ(absolute_path("/x", "a\nb/\xff"), "/x/a\nb/\xff");
}

}  // namespace
}  // namespace lookout::sys
