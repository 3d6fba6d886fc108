// The pure parts of `lookout run`: durations and signal names as users write them, the
// default ignores, --match, and the checks of RunOptions.
#include <gtest/gtest.h>

#include "batch/duration.h"
#include "proc/signal_names.h"
#include "run/change_filter.h"
#include "run/http_post.h"
#include "run/run_options.h"

namespace lookout {
namespace {

TEST(Duration, UnitsAndBareMilliseconds) {
  EXPECT_EQ(batch::parse_duration_ms("150"), 150);
  EXPECT_EQ(batch::parse_duration_ms("150ms"), 150);
  EXPECT_EQ(batch::parse_duration_ms("2s"), 2000);
  EXPECT_EQ(batch::parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(batch::parse_duration_ms("1m"), 60000);
  EXPECT_EQ(batch::parse_duration_ms("0"), 0);
  for (const char* bad : {"", "s", "-1s", "2 s", "2x", "nan", "1e400s", "1.2.3"}) {
    EXPECT_EQ(batch::parse_duration_ms(bad), std::nullopt) << bad;
  }
}

TEST(SignalNames, NamesWithAndWithoutSigAndNumbers) {
  EXPECT_EQ(proc::parse_signal("HUP"), SIGHUP);
  EXPECT_EQ(proc::parse_signal("SIGHUP"), SIGHUP);
  EXPECT_EQ(proc::parse_signal("usr1"), SIGUSR1);
  EXPECT_EQ(proc::parse_signal("15"), SIGTERM);
  for (const char* bad : {"", "SIG", "HANGUP", "0", "65", "1x"}) EXPECT_EQ(proc::parse_signal(bad), std::nullopt) << bad;
  EXPECT_EQ(proc::signal_name(SIGTERM), "TERM");
}

TEST(ChangeFilter, EditorAndVcsNoiseIsIgnoredByDefault) {
  run::ChangeFilter f({"/w"}, {}, true);
  EXPECT_TRUE(f.wanted("/w/main.c"));
  for (const char* noise : {"/w/.main.c.swp", "/w/.main.c.swx", "/w/main.c~", "/w/4913", "/w/#main.c#",
                            "/w/.#main.c", "/w/.git/index", "/w/sub/.git", "/w/.hg/store/x"}) {
    EXPECT_FALSE(f.wanted(noise)) << noise;
  }
  EXPECT_TRUE(f.wanted("/w/.github/workflow.yml"));  // not .git
  run::ChangeFilter all({"/w"}, {}, false);
  EXPECT_TRUE(all.wanted("/w/.git/index"));
}

TEST(ChangeFilter, MatchTakesTheNameOrTheRelativePath) {
  run::ChangeFilter f({"/w"}, {"*.c", "docs/*.md"}, true);
  EXPECT_TRUE(f.wanted("/w/src/deep/x.c"));
  EXPECT_TRUE(f.wanted("/w/docs/a.md"));
  EXPECT_FALSE(f.wanted("/w/docs/sub/a.md"));  // "*" stops at "/"
  EXPECT_FALSE(f.wanted("/w/x.h"));
  EXPECT_TRUE(f.wanted(""));  // a rescan of everything
}

TEST(RunOptionsCheck, SaysWhatIsMissing) {
  run::RunOptions o;
  EXPECT_EQ(run::check_run_options(o), "no PATH to watch was given");
  o.paths = {"/w"};
  EXPECT_NE(run::check_run_options(o).find("no COMMAND"), std::string::npos);
  o.command = {"make"};
  EXPECT_EQ(run::check_run_options(o), "");
  o.action = run::ActionKind::signal;
  EXPECT_NE(run::check_run_options(o).find("exactly one of --pid"), std::string::npos);
  o.command.clear();
  o.pid_file = "/run/nginx.pid";
  EXPECT_EQ(run::check_run_options(o), "");
  o.batch.max_wait_ms = 10;
  EXPECT_NE(run::check_run_options(o).find("--max-wait"), std::string::npos);
}

TEST(PostUrl, SplitsHostAndPathAndRefusesWhatIsNotHttp) {
  auto t = run::parse_post_url("http://127.0.0.1:9090/-/reload?x=1");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->scheme_host_port, "http://127.0.0.1:9090");
  EXPECT_EQ(t->path, "/-/reload?x=1");
  auto bare = run::parse_post_url("https://config-reloader");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->path, "/");
  for (const char* bad : {"localhost:80/x", "ftp://h/x", "http:///x", "http://h:0/", "http://h:99999/", "http://h:x/"}) {
    auto r = run::parse_post_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(PostUrl, TheBodyIsTheCountAndTheRecords) {
  Event e;
  e.kind = EventKind::close_write;
  e.path = "/w/a b";
  EXPECT_EQ(run::post_body({}), "{\"count\":0,\"changes\":[]}");
  std::string body = run::post_body({e, e});
  EXPECT_EQ(body.rfind("{\"count\":2,\"changes\":[{", 0), 0u) << body;
  EXPECT_NE(body.find("\"path\":\"/w/a b\""), std::string::npos) << body;
}

}  // namespace
}  // namespace lookout
