#include "core/path_filter.h"

#include <gtest/gtest.h>

namespace lookout::core {
namespace {

TEST(PathFilter, RegexGlobAndPathExcludes) {
  FilterSpec spec;
  spec.exclude_regex = {"\\.git(/|$)"};
  spec.exclude_globs = {"*.tmp", "build/*"};
  spec.exclude_paths = {"/w/private/"};
  auto f = PathFilter::create(spec);
  ASSERT_TRUE(f);
  const auto& pf = **f;
  EXPECT_TRUE(pf.excluded("/w/.git", "/w"));
  EXPECT_TRUE(pf.excluded("/w/sub/.git/HEAD", "/w"));
  EXPECT_FALSE(pf.excluded("/w/.github", "/w"));
  EXPECT_TRUE(pf.excluded("/w/a/b.tmp", "/w"));
  EXPECT_TRUE(pf.excluded("/w/build/x", "/w"));
  EXPECT_TRUE(pf.excluded("/w/private", "/w"));
  EXPECT_TRUE(pf.excluded("/w/private/k", "/w"));
  EXPECT_FALSE(pf.excluded("/w/privateer", "/w"));
}

TEST(PathFilter, IncludeFiltersOnlyReporting) {
  FilterSpec spec;
  spec.include_regex_icase = {"\\.CONF$"};
  auto f = PathFilter::create(spec);
  ASSERT_TRUE(f);
  EXPECT_TRUE((*f)->reportable("/w/app.conf", "/w"));
  EXPECT_FALSE((*f)->reportable("/w/app.txt", "/w"));
  EXPECT_FALSE((*f)->excluded("/w/dir", "/w"));  // directories are still watched
}

TEST(PathFilter, BadRegexIsAClearError) {
  FilterSpec spec;
  spec.exclude_regex = {"(unclosed"};
  auto f = PathFilter::create(spec);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("(unclosed"), std::string::npos);
}

}  // namespace
}  // namespace lookout::core
