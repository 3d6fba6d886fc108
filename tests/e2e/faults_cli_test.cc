// `lookout doctor` and `lookout watch` must give the same answer for a path: a pseudo
// filesystem (/proc) is polled by auto mode, as doctor says, and the watch says so in its
// `backend` record with the same reason (issue 9 §5).
#include <signal.h>

#include <gtest/gtest.h>

#include <string>

#include "e2e/lookout_process.h"

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

}  // namespace
}  // namespace lookout::e2e
