// `lookout watch` takes the engine flags from their shared definition
// (cmd/lookout/engine_flags.h): every flag add_engine_flags registers is in its --help with the
// same help text, and a bad value is refused with exactly check_engine_flags' line.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "e2e/lookout_process.h"
#include "engine_flags.h"
#include "support/test_dirs.h"

namespace lookout::e2e {
namespace {

constexpr milliseconds kWait(20000);

TEST(EngineFlagsCli, WatchHelpListsEveryEngineFlagWithItsSharedHelp) {
  CLI::App shared;
  cmd::EngineFlags flags;
  cmd::add_engine_flags(shared, flags);
  LookoutProcess lk({"watch", "--help"});
  ASSERT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
  std::size_t n = 0;
  for (const CLI::Option* opt : shared.get_options()) {
    if (opt == shared.get_help_ptr()) continue;
    ++n;
    const std::string name = "--" + opt->get_lnames().front();
    EXPECT_NE(lk.out().find(name), std::string::npos) << name << "\n" << lk.out();
    EXPECT_NE(lk.out().find(opt->get_description()), std::string::npos) << name << "\n" << lk.out();
  }
  // --backend, --poll, --poll-{min,max,full,full-every,overlay}, --state, --state-reset,
  // --checksum, --reconcile-every, 5 filters, --max-pending, --read-ahead.
  EXPECT_EQ(n, 18u);
}

TEST(EngineFlagsCli, WatchRefusesABadEngineFlagWithTheSharedCheck) {
  lookout::testing::TempDir tmp;
  const std::vector<std::vector<std::string>> bad = {
      {"--poll-min", "nan"},       {"--poll-min", "2", "--poll-max", "1"},
      {"--reconcile-every", "-1"}, {"--max-pending", "0"},
      {"--state-reset"},           {"--read-ahead", "lots"},
  };
  for (const auto& args : bad) {
    CLI::App shared;
    cmd::EngineFlags flags;
    cmd::add_engine_flags(shared, flags);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    shared.parse(reversed);
    const std::string expected = cmd::check_engine_flags(flags);
    ASSERT_FALSE(expected.empty()) << args[0];

    std::vector<std::string> cmdline{"watch"};
    cmdline.insert(cmdline.end(), args.begin(), args.end());
    cmdline.push_back(tmp.path());
    LookoutProcess lk(cmdline);
    EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.describe();
    EXPECT_EQ(lk.err(), "lookout watch: " + expected + "\n");
  }
}

}  // namespace
}  // namespace lookout::e2e
