// The engine flags' shared definition (cmd/lookout/engine_flags.h): what add_engine_flags
// registers parses into EngineFlags, check_engine_flags names the option at fault, and
// fill_watch_options turns the flags into WatchOptions. Pure: no --state file is touched.
#include "engine_flags.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

namespace lookout::cmd {
namespace {

// Parses `args` (without a program name) with only the engine flags registered.
EngineFlags parse(std::vector<std::string> args) {
  CLI::App app;
  EngineFlags f;
  add_engine_flags(app, f);
  std::reverse(args.begin(), args.end());  // CLI11 takes them in reverse order
  app.parse(args);
  return f;
}

TEST(EngineFlags, DefaultsAreValidAndFillTheEngineDefaults) {
  EngineFlags f = parse({});
  EXPECT_EQ(check_engine_flags(f), "");
  WatchOptions wo;
  ASSERT_EQ(fill_watch_options(f, wo), "");
  WatchOptions defaults;
  EXPECT_EQ(wo.backend, BackendChoice::auto_select);
  EXPECT_EQ(wo.poll_min_ms, defaults.poll_min_ms);
  EXPECT_EQ(wo.poll_max_ms, defaults.poll_max_ms);
  EXPECT_EQ(wo.poll_full_every_ms, defaults.poll_full_every_ms);
  EXPECT_EQ(wo.reconcile_every_ms, 0);
  EXPECT_EQ(wo.max_pending, defaults.max_pending);
  EXPECT_EQ(wo.inotify_read_ahead_bytes, defaults.inotify_read_ahead_bytes);
  EXPECT_TRUE(wo.state_file.empty());
}

TEST(EngineFlags, ReadAheadTakesASizeAndZeroTurnsItOff) {
  WatchOptions wo;
  ASSERT_EQ(fill_watch_options(parse({"--read-ahead", "512k"}), wo), "");
  EXPECT_EQ(wo.inotify_read_ahead_bytes, 512u * 1024);
  ASSERT_EQ(fill_watch_options(parse({"--read-ahead", "0"}), wo), "");
  EXPECT_EQ(wo.inotify_read_ahead_bytes, 0u);
  EXPECT_EQ(check_engine_flags(parse({"--read-ahead", "lots"})),
            "--read-ahead: 'lots' is not a size; give bytes, e.g. 8M, 512k or 0 for off");
}

TEST(EngineFlags, EveryFlagReachesWatchOptions) {
  EngineFlags f = parse({"--backend",
                         "inotify",
                         "--poll-min",
                         "0.5",
                         "--poll-max",
                         "4",
                         "--poll-full",
                         "--poll-full-every",
                         "60",
                         "--poll-overlay",
                         "--reconcile-every",
                         "1.5",
                         "--checksum",
                         "--exclude",
                         "a",
                         "--excludei",
                         "b",
                         "--include",
                         "c",
                         "--includei",
                         "d",
                         "--exclude-glob",
                         "*.o",
                         "--exclude-glob",
                         "*.tmp",
                         "--max-pending",
                         "1000"});
  ASSERT_EQ(check_engine_flags(f), "");
  WatchOptions wo;
  ASSERT_EQ(fill_watch_options(f, wo), "");
  EXPECT_EQ(wo.backend, BackendChoice::inotify);
  EXPECT_EQ(wo.poll_min_ms, 500);
  EXPECT_EQ(wo.poll_max_ms, 4000);
  EXPECT_TRUE(wo.poll_full);
  EXPECT_EQ(wo.poll_full_every_ms, 60000);
  EXPECT_TRUE(wo.poll_overlay);
  EXPECT_EQ(wo.reconcile_every_ms, 1500);
  EXPECT_TRUE(wo.checksum);
  EXPECT_EQ(wo.exclude_regex, std::vector<std::string>{"a"});
  EXPECT_EQ(wo.exclude_regex_icase, std::vector<std::string>{"b"});
  EXPECT_EQ(wo.include_regex, std::vector<std::string>{"c"});
  EXPECT_EQ(wo.include_regex_icase, std::vector<std::string>{"d"});
  EXPECT_EQ(wo.exclude_globs, (std::vector<std::string>{"*.o", "*.tmp"}));
  EXPECT_EQ(wo.max_pending, 1000u);
}

TEST(EngineFlags, PollIsShorthandForBackendPoll) {
  EXPECT_EQ(parse({"--poll"}).backend_choice(), BackendChoice::poll);
  EXPECT_EQ(parse({"--backend", "poll"}).backend_choice(), BackendChoice::poll);
  EXPECT_EQ(parse({"--backend", "fanotify"}).backend_choice(), BackendChoice::fanotify);
  EXPECT_EQ(parse({"--backend", "inotify", "--poll"}).backend_choice(), BackendChoice::poll);
  EXPECT_EQ(parse({}).backend_choice(), BackendChoice::auto_select);
  EXPECT_THROW(parse({"--backend", "carrier-pigeon"}), CLI::ValidationError);
}

TEST(EngineFlags, TinyMaxPendingIsRaisedToSixteen) {
  WatchOptions wo;
  ASSERT_EQ(fill_watch_options(parse({"--max-pending", "3"}), wo), "");
  EXPECT_EQ(wo.max_pending, 16u);
}

// Each bad value: one line that starts with the option at fault.
TEST(EngineFlags, EachProblemIsOneLineNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string option;
  };
  const std::vector<Case> cases = {
      {{"--max-pending", "0"}, "--max-pending"},
      {{"--max-pending", "-5"}, "--max-pending"},
      {{"--reconcile-every", "nan"}, "--reconcile-every"},
      {{"--reconcile-every", "0.0001"}, "--reconcile-every"},
      {{"--reconcile-every", "2e6"}, "--reconcile-every"},
      {{"--poll-min", "inf"}, "--poll-min"},
      {{"--poll-min", "0"}, "--poll-min"},
      {{"--poll-max", "-1"}, "--poll-max"},
      {{"--poll-full-every", "nan"}, "--poll-full-every"},
      {{"--poll-min", "3", "--poll-max", "1"}, "--poll-max"},
      {{"--state-reset"}, "--state-reset"},
  };
  for (const auto& c : cases) {
    std::string bad = check_engine_flags(parse(c.args));
    EXPECT_EQ(bad.rfind(c.option, 0), 0u) << c.args[0] << ": " << bad;
    EXPECT_EQ(bad.find('\n'), std::string::npos) << bad;
  }
}

TEST(EngineFlags, CheckSecondsAllowsZeroOnlyWhenItMeansOff) {
  EXPECT_EQ(check_seconds("--x", 0, 0.001, 10, true), "");
  EXPECT_EQ(check_seconds("--x", 0, 0.001, 10, false),
            "--x: 0 is not allowed: give seconds from 0.001 to 10");
  EXPECT_EQ(check_seconds("--x", 11, 0.001, 10, true),
            "--x: 11 is not allowed: give seconds from 0.001 to 10, or 0 for off");
}

}  // namespace
}  // namespace lookout::cmd
