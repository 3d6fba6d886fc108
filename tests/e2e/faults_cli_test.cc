// `lookout doctor` and `lookout watch` must give the same answer for a path: a pseudo
// filesystem (/proc) is polled by auto mode, as doctor says, and the watch says so in its
// `backend` record with the same reason (issue 9 §5).
#include <signal.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <string>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"

namespace lookout::e2e {
namespace {

constexpr milliseconds kWait(60000);

// The string value of the first `"key":"..."` in a JSON text (no escapes expected in it).
std::string first_string(const std::string& json, const std::string& key) {
  std::string needle = "\"" + key + "\":\"";
  std::size_t at = json.find(needle);
  if (at == std::string::npos) return {};
  at += needle.size();
  std::size_t end = json.find('"', at);
  return end == std::string::npos ? std::string{} : json.substr(at, end - at);
}

TEST(FaultsCli, DoctorAndWatchAgreeOnProc) {
  std::string doctor_backend, doctor_reason;
  {
    LookoutProcess doctor({"doctor", "--json", "/proc"});
    auto rc = doctor.wait_exit(kWait);
    ASSERT_TRUE(rc.has_value()) << "doctor did not finish";
    ASSERT_EQ(*rc, 0) << doctor.err();
    // The path's own mount comes first: {"paths":[{"path":"/proc",...,"mount":{...}}...
    doctor_backend = first_string(doctor.out(), "backend");
    doctor_reason = first_string(doctor.out(), "reason");
  }
  EXPECT_EQ(doctor_backend, "poll");
  LookoutProcess watch({"watch", "--json", "-m", "-r", "/proc"});
  std::optional<JsonObject> decision;
  for (;;) {
    auto line = watch.next_record('\n', kWait);
    ASSERT_TRUE(line) << "no backend record for /proc\n" << watch.err();
    auto rec = parse_json_line(*line);
    ASSERT_TRUE(rec) << *line;
    if ((*rec)["event"] == "backend" && (*rec)["path"] == "/proc") {
      decision = rec;
      break;
    }
  }
  watch.signal(SIGINT);
  EXPECT_EQ((*decision)["backend"], doctor_backend);
  EXPECT_EQ((*decision)["reason"], doctor_reason);
  // Polled, not 3,000 inotify watches each warning about what it cannot read.
  auto rc = watch.wait_exit(kWait);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(watch.err().find("inotify_add_watch"), std::string::npos) << watch.err();
}

// Started with no fd to spare (`ulimit -n` as low as lets it start at all): the root can be
// watched but not listed. Before, "cannot list ...: Too many open files", ready, and what
// the root holds (and anything later made inside its subdirectories) was never reported.
// Now it says which limit and how to raise it, and once the limit is raised (prlimit on the
// running process, as an operator would) everything there is reported.
TEST(FaultsCli, StartedOutOfFdsReportsEverythingOnceTheLimitIsRaised) {
  testing::TempDir t;
  testing::make_dirs(t / "a");
  testing::write_file(t / "a/pre", "x");
  // The lowest limit at which it starts: the one that leaves no fd for the first listing.
  // Found by trying, so this does not depend on how many fds lookout keeps open.
  std::unique_ptr<LookoutProcess> lk;
  for (int limit = 3; limit <= 16 && !lk; ++limit) {
    LookoutProcess::Options o;
    o.nofile_soft_limit = limit;
    auto p = std::make_unique<LookoutProcess>(
        std::vector<std::string>{"watch", "-m", "-r", "--json", t.path()}, o);
    if (p->wait_until([&] { return p->exited() || p->out().find("{\"event\":\"ready\"}") != std::string::npos; },
                      kWait) &&
        !p->exited()) {
      lk = std::move(p);
    }
  }
  ASSERT_TRUE(lk) << "lookout did not start with any limit up to 16";
  ASSERT_NE(lk->err().find("cannot list " + t.path()), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("RLIMIT_NOFILE="), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("ulimit -n"), std::string::npos) << lk->err();
  // Changes while starved: in the unlisted subdirectory, and at the (watched) root.
  testing::write_file(t / "a/during", "y");
  testing::write_file(t / "top", "z");
  rlimit raised{};
  ::getrlimit(RLIMIT_NOFILE, &raised);
  raised.rlim_cur = std::min<rlim_t>(raised.rlim_max, 1024);
  ASSERT_EQ(::prlimit(lk->pid(), RLIMIT_NOFILE, &raised, nullptr), 0);
  for (const std::string& p : {t / "a", t / "a/pre", t / "a/during", t / "top"}) {
    std::string rec = "\"event\":\"create\",\"path\":\"" + p + "\"";
    EXPECT_TRUE(lk->wait_stdout_contains(rec, kWait)) << p << "\n" << lk->out() << lk->err();
  }
  // Listed: `a` is watched now.
  testing::write_file(t / "a/after", "w");
  EXPECT_TRUE(lk->wait_stdout_contains("\"path\":\"" + (t / "a/after") + "\"", kWait))
      << lk->out() << lk->err();
}

}  // namespace
}  // namespace lookout::e2e
