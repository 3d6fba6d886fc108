// The `lookout watch` command line as a script sees it: inotifywait-compatible text output,
// --format/--csv/-0/--json, -e filtering, -m/-t/-o, exit codes, signals, odd names, excludes.
// Synchronisation: "Watches established." on stderr (or the JSON ready line), then a cookie
// whose event proves everything before it was printed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"

namespace lookout::e2e {
namespace {

constexpr milliseconds kWait(20000);

std::vector<std::string> split_records(const std::string& s, char term) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t pos; (pos = s.find(term, start)) != std::string::npos; start = pos + 1) {
    out.push_back(s.substr(start, pos - start));
  }
  if (start < s.size()) out.push_back(s.substr(start) + "<unterminated>");
  return out;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (auto& l : v) s += printable(l) + "\n";
  return s;
}

// One CSV record (RFC 4180 quoting) into fields.
std::vector<std::string> parse_csv(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back().push_back(c);
    }
  }
  return fields;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "root";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  }

  // Starts lookout and waits until its watches are live.
  std::unique_ptr<LookoutProcess> start(std::vector<std::string> args, LookoutProcess::Options opt = {}) {
    auto p = std::make_unique<LookoutProcess>(args, opt);
    bool json = std::find(args.begin(), args.end(), "--json") != args.end();
    bool ok = json ? p->wait_stdout_contains("{\"event\":\"ready\"}", kWait)
                   : p->wait_stderr_contains("Watches established.", kWait);
    EXPECT_TRUE(ok) << "lookout did not get ready\n" << p->describe();
    return p;
  }

  std::string path(const std::string& name) const { return root + "/" + name; }
  void mkdir_ok(const std::string& p) { ASSERT_EQ(::mkdir(p.c_str(), 0755), 0) << printable(p); }
  void write_ok(const std::string& p, const std::string& data) {
    ASSERT_TRUE(write_small_file(p, data)) << printable(p) << ": " << errno_text(errno);
  }

  lookout::testing::TempDir tmp;
  std::string root;
};

TEST_F(Cli, DefaultOutputIsInotifywaitFormat) {
  auto lk = start({"watch", "-m", root});
  write_ok(path("a.txt"), "hello");
  mkdir_ok(path("sub"));
  mkdir_ok(path("zz_cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("CREATE,ISDIR zz_cookie\n", kWait)) << lk->describe();
  const std::string w = root + "/";
  EXPECT_EQ(lk->out(), w + " CREATE a.txt\n" + w + " MODIFY a.txt\n" + w + " CLOSE_WRITE,CLOSE a.txt\n" + w +
                           " CREATE,ISDIR sub\n" + w + " CREATE,ISDIR zz_cookie\n");
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
}

// The output pipe full while changes keep coming (a reader that stops reading): the loop
// writes small batches itself only while the pipe has room, so the records still come out
// whole, once each and in order when the reader reads again, and nothing hangs.
TEST_F(Cli, AFullOutputPipeLosesReordersAndRepeatsNothing) {
  LookoutProcess::Options opt;
  opt.stdout_pipe_size = 4096;
  auto lk = start({"watch", "-m", "-e", "create", "--format", "%f", root}, opt);
  constexpr int kFiles = 3000;  // ~30 KB of records against a 4 KB pipe nobody reads yet
  for (int i = 0; i < kFiles; ++i) write_ok(path("f" + std::to_string(i)), "");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("cookie\n", kWait)) << lk->describe();
  const auto lines = split_records(lk->out(), '\n');
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kFiles + 1)) << lk->err();
  for (int i = 0; i < kFiles; ++i) ASSERT_EQ(lines[i], "f" + std::to_string(i));
  EXPECT_EQ(lines.back(), "cookie");
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
}

TEST_F(Cli, RecursiveOutputKeepsTheRootAsSpelled) {
  mkdir_ok(path("sub"));
  auto lk = start({"watch", "-m", "-r", root + "/"});
  write_ok(path("sub/f"), "");
  mkdir_ok(path("sub/deeper"));
  // Inside a directory this fresh only the create is certain (its close_write may come
  // before the new directory's watch).
  write_ok(path("sub/deeper/g"), "");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("CREATE,ISDIR cookie\n", kWait)) << lk->describe();
  std::string out = lk->out();
  const std::string deeper_close = root + "/sub/deeper/ CLOSE_WRITE,CLOSE g\n";
  if (auto pos = out.find(deeper_close); pos != std::string::npos) out.erase(pos, deeper_close.size());
  EXPECT_EQ(out, root + "/sub/ CREATE f\n" + root + "/sub/ CLOSE_WRITE,CLOSE f\n" + root +
                     "/sub/ CREATE,ISDIR deeper\n" + root + "/sub/deeper/ CREATE g\n" + root +
                     "/ CREATE,ISDIR cookie\n");
}

TEST_F(Cli, ReadyFlagPrintsReadyFirst) {
  auto lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"watch", "-m", "--ready", root});
  auto first = lk->next_record('\n', kWait);
  ASSERT_TRUE(first) << lk->describe();
  EXPECT_EQ(*first, "READY");
  mkdir_ok(path("x"));
  auto second = lk->next_record('\n', kWait);
  ASSERT_TRUE(second) << lk->describe();
  EXPECT_EQ(*second, root + "/ CREATE,ISDIR x");
}

TEST_F(Cli, FormatPathAndEvents) {
  auto lk = start({"watch", "-m", "--format", "%w%f %e", root});
  mkdir_ok(path("d"));
  write_ok(path("f"), "");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("cookie CREATE,ISDIR\n", kWait)) << lk->describe();
  EXPECT_EQ(lk->out(), root + "/d CREATE,ISDIR\n" + root + "/f CREATE\n" + root + "/f CLOSE_WRITE,CLOSE\n" +
                           root + "/cookie CREATE,ISDIR\n");
}

TEST_F(Cli, FormatWithNulSeparator) {
  auto lk = start({"watch", "-m", "--format", "%w%f%0", "--no-newline", root});
  mkdir_ok(path("one\ntwo"));
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(path("cookie") + std::string(1, '\0'), kWait)) << lk->describe();
  EXPECT_EQ(split_records(lk->out(), '\0'), (std::vector<std::string>{path("one\ntwo"), path("cookie")}))
      << printable(lk->out());
}

TEST_F(Cli, CsvQuotesFieldsThatNeedIt) {
  auto lk = start({"watch", "-m", "--csv", root});
  const std::string odd = "a,b \"q\"";
  write_ok(path(odd), "");
  mkdir_ok(path("plain"));
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(",cookie\n", kWait)) << lk->describe();
  auto lines = split_records(lk->out(), '\n');
  ASSERT_EQ(lines.size(), 4u) << join_lines(lines);
  // Exact bytes where every CSV writer agrees (the field has a comma or a quote) ...
  EXPECT_EQ(lines[0], root + "/,CREATE,\"a,b \"\"q\"\"\"");
  EXPECT_EQ(lines[1], root + "/,\"CLOSE_WRITE,CLOSE\",\"a,b \"\"q\"\"\"");
  EXPECT_EQ(lines[2], root + "/,\"CREATE,ISDIR\",plain");
  // ... and the fields a CSV reader gets.
  EXPECT_EQ(parse_csv(lines[0]), (std::vector<std::string>{root + "/", "CREATE", odd}));
  EXPECT_EQ(parse_csv(lines[1]), (std::vector<std::string>{root + "/", "CLOSE_WRITE,CLOSE", odd}));
  EXPECT_EQ(parse_csv(lines[3]), (std::vector<std::string>{root + "/", "CREATE,ISDIR", "cookie"}));
}

// -e semantics (the path comes first here; see OptionValuesDoNotSwallowThePath for the
// order inotifywait users write).
TEST_F(Cli, EventFilterCloseWriteOnly) {
  auto lk = start({"watch", "-m", root, "-e", "close_write"});
  write_ok(path("a"), "1");
  mkdir_ok(path("d"));  // between the two closes: the kernel merges identical adjacent events
  {
    int fd = ::open(path("a").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "2", 1), 1);
    ::close(fd);
  }
  ASSERT_EQ(::chmod(path("a").c_str(), 0600), 0);
  ASSERT_EQ(::rename(path("a").c_str(), path("b").c_str()), 0);
  ASSERT_EQ(::unlink(path("b").c_str()), 0);
  write_ok(path("cookie"), "");
  ASSERT_TRUE(lk->wait_stdout_contains(" cookie\n", kWait)) << lk->describe();
  const std::string w = root + "/";
  EXPECT_EQ(lk->out(), w + " CLOSE_WRITE,CLOSE a\n" + w + " CLOSE_WRITE,CLOSE a\n" + w + " CLOSE_WRITE,CLOSE cookie\n");
}

TEST_F(Cli, EventFilterSeveralNames) {
  auto lk = start({"watch", "-m", root, "-e", "create,delete", "-e", "moved_to"});
  write_ok(path("a"), "1");
  ASSERT_EQ(::rename(path("a").c_str(), path("b").c_str()), 0);
  ASSERT_EQ(::unlink(path("b").c_str()), 0);
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(" cookie\n", kWait)) << lk->describe();
  const std::string w = root + "/";
  EXPECT_EQ(lk->out(), w + " CREATE a\n" + w + " MOVED_TO b\n" + w + " DELETE b\n" + w + " CREATE,ISDIR cookie\n");
}

// inotifywait's usual spelling, `inotifywait -m -e close_write DIR`: an option value must
// not take the path with it.
TEST_F(Cli, OptionValuesDoNotSwallowThePath) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"watch", "-m", "-e", "close_write", root},
           {"watch", "-m", "-e", "create", "-e", "close_write", root},
           {"watch", "-m", "-r", "--exclude", "nomatch", root},
           {"watch", "-m", "-r", "--exclude-glob", "*.tmp", root}}) {
    std::string cmd;
    for (auto& a : args) cmd += " " + a;
    SCOPED_TRACE("lookout" + cmd);
    LookoutProcess lk(args);
    lk.wait_until([&] { return lk.exited() || lk.err().find("Watches established.") != std::string::npos; },
                  kWait);
    EXPECT_FALSE(lk.exited()) << "lookout" << cmd << " exited\n" << lk.describe();
    if (lk.exited()) continue;
    const std::string cookie = path("cookie" + std::to_string(lk.pid()));
    write_ok(cookie, "");
    EXPECT_TRUE(lk.wait_stdout_contains(cookie.substr(root.size() + 1) + "\n", kWait)) << lk.describe();
  }
}

TEST_F(Cli, InvalidEventNameIsAnError) {
  LookoutProcess lk({"watch", root, "-e", "no_such_event"});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.describe();
  EXPECT_NE(lk.err().find("no_such_event"), std::string::npos) << lk.describe();
}

TEST_F(Cli, WithoutMonitorExitsAfterTheFirstEvent) {
  auto lk = start({"watch", root});
  mkdir_ok(path("first"));
  mkdir_ok(path("second"));
  write_ok(path("third"), "x");
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  EXPECT_EQ(lk->out(), root + "/ CREATE,ISDIR first\n");
}

TEST_F(Cli, TimeoutWithoutEventsExitsWith2) {
  auto t0 = Clock::now();
  LookoutProcess lk({"watch", "-t", "1", root});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(2)) << lk.describe();
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_GE(took, 900);
  EXPECT_LT(took, 10000);
  EXPECT_EQ(lk.out(), "");
}

TEST_F(Cli, TimeoutIsNotHitWhenAnEventComes) {
  auto lk = start({"watch", "-t", "5", root});
  mkdir_ok(path("x"));
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  EXPECT_EQ(lk->out(), root + "/ CREATE,ISDIR x\n");
}

TEST_F(Cli, NonexistentPathExits1NamingThePath) {
  const std::string missing = path("does-not-exist");
  LookoutProcess lk({"watch", "-m", missing});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.describe();
  EXPECT_NE(lk.err().find(missing), std::string::npos) << "stderr does not name the path:\n" << lk.err();
  EXPECT_EQ(lk.out(), "");
}

const std::vector<std::string> kOddNames = {"with space", "new\nline", "-leading-dash", "\xff\xfe",
                                            "tab\there",  "back\\slash", "quote\"d",   "\xc3\xa9t\xc3\xa9"};

TEST_F(Cli, OddNamesAreUnambiguousWithNul) {
  auto lk = start({"watch", "-m", "-0", root});
  for (auto& n : kOddNames) mkdir_ok(path(n));
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(" cookie" + std::string(1, '\0'), kWait)) << lk->describe();
  std::vector<std::string> expected;
  for (auto& n : kOddNames) expected.push_back(root + "/ CREATE,ISDIR " + n);
  expected.push_back(root + "/ CREATE,ISDIR cookie");
  auto got = split_records(lk->out(), '\0');
  EXPECT_EQ(got, expected) << join_lines(got);
}

TEST_F(Cli, OddNamesWithFormatAndNul) {
  auto lk = start({"watch", "-m", "-0", "--format", "%w%f", root});
  for (auto& n : kOddNames) mkdir_ok(path(n));
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("/cookie" + std::string(1, '\0'), kWait)) << lk->describe();
  std::vector<std::string> expected;
  for (auto& n : kOddNames) expected.push_back(path(n));
  expected.push_back(path("cookie"));
  auto got = split_records(lk->out(), '\0');
  EXPECT_EQ(got, expected) << join_lines(got);
}

TEST_F(Cli, JsonStatAddsIdentityAndStamps) {
  auto lk = start({"watch", "-m", "--json", "--json-stat", root});
  write_ok(path("f"), "12345");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("/cookie\"", kWait)) << lk->describe();
  struct stat st;
  ASSERT_EQ(::lstat(path("f").c_str(), &st), 0);
  bool saw_close_write = false;
  for (const auto& line : split_records(lk->out(), '\n')) {
    auto o = parse_json_line(line);
    ASSERT_TRUE(o) << printable(line);
    if ((*o)["event"] != "close_write") continue;
    saw_close_write = true;
    EXPECT_EQ((*o)["ino"], std::to_string(st.st_ino)) << line;
    EXPECT_EQ((*o)["dev"], std::to_string(st.st_dev)) << line;
    EXPECT_EQ((*o)["size"], "5") << line;
    EXPECT_EQ((*o)["mtime_ns"], std::to_string(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec)) << line;
  }
  EXPECT_TRUE(saw_close_write) << lk->out();
}

TEST_F(Cli, OddNamesAreUnambiguousInJson) {
  auto lk = start({"watch", "-m", "--json", root});
  for (auto& n : kOddNames) mkdir_ok(path(n));
  ASSERT_EQ(::rename(path("\xff\xfe").c_str(), path("moved-\xfe").c_str()), 0);
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains("/cookie\"", kWait)) << lk->describe();
  auto lines = split_records(lk->out(), '\n');
  ASSERT_EQ(lines.size(), kOddNames.size() + 3) << join_lines(lines);
  EXPECT_EQ(lines[0], "{\"event\":\"ready\"}");
  for (std::size_t i = 0; i < kOddNames.size(); ++i) {
    SCOPED_TRACE(printable(kOddNames[i]));
    auto o = parse_json_line(lines[i + 1]);
    ASSERT_TRUE(o) << "not one JSON object per line: " << printable(lines[i + 1]);
    EXPECT_EQ((*o)["event"], "create");
    EXPECT_EQ((*o)["is_dir"], "true");
    EXPECT_EQ(json_path(*o, "path"), path(kOddNames[i]));
    bool utf8 = kOddNames[i] != "\xff\xfe";
    EXPECT_EQ(o->count("path_b64"), utf8 ? 0u : 1u) << printable(lines[i + 1]);
    if (utf8) {
      EXPECT_EQ((*o)["path"], path(kOddNames[i]));
    } else {
      EXPECT_EQ(base64_decode((*o)["path_b64"]), std::optional<std::string>(path("\xff\xfe")));
      EXPECT_EQ((*o)["path"], path("\xef\xbf\xbd\xef\xbf\xbd"));  // display form: U+FFFD each
    }
  }
  auto mv = parse_json_line(lines[kOddNames.size() + 1]);
  ASSERT_TRUE(mv);
  EXPECT_EQ((*mv)["event"], "rename");
  EXPECT_EQ(json_path(*mv, "from"), path("\xff\xfe"));
  EXPECT_EQ(json_path(*mv, "path"), path("moved-\xfe"));
  EXPECT_EQ(mv->count("from_b64"), 1u);
  EXPECT_EQ(mv->count("path_b64"), 1u);
}

TEST_F(Cli, SigtermExitsZeroAndFlushes) {
  mkdir_ok(path("d"));
  // A one-page stdout pipe: lookout blocks on output and has events queued when the
  // signal comes.
  LookoutProcess::Options opt;
  opt.stdout_pipe_size = 4096;
  auto lk = start({"watch", "-m", "-r", "--json", root}, opt);
  for (int i = 0; i < 200; ++i) write_ok(path("d/first" + std::to_string(i)), "x");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(path("cookie") + "\"", kWait)) << lk->describe();
  for (int i = 0; i < 500; ++i) write_ok(path("d/second" + std::to_string(i)), "x");
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  ASSERT_FALSE(lk->out().empty());
  EXPECT_EQ(lk->out().back(), '\n') << "partial record at the end";
  std::uint64_t expect_seq = 1;
  std::set<std::string> created;
  auto lines = split_records(lk->out(), '\n');
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto o = parse_json_line(lines[i]);
    ASSERT_TRUE(o) << "bad line " << i << ": " << printable(lines[i]);
    ASSERT_EQ((*o)["seq"], std::to_string(expect_seq)) << "a gap in seq: events were dropped at line " << i;
    ++expect_seq;
    if ((*o)["event"] == "create") created.insert(json_path(*o, "path"));
  }
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(created.count(path("d/first" + std::to_string(i)))) << i;
}

TEST_F(Cli, SigintExitsZero) {
  auto lk = start({"watch", "-m", root});
  mkdir_ok(path("x"));
  ASSERT_TRUE(lk->wait_stdout_contains("CREATE,ISDIR x\n", kWait)) << lk->describe();
  lk->signal(SIGINT);
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  EXPECT_EQ(lk->out(), root + "/ CREATE,ISDIR x\n");
}

TEST_F(Cli, DeletingTheWatchedRootEndsWithAnError) {
  mkdir_ok(path("sub"));
  write_ok(path("sub/f"), "x");
  auto lk = start({"watch", "-m", "-r", root});
  lookout::testing::remove_all(root);
  auto code = lk->wait_exit(kWait);
  ASSERT_TRUE(code) << "lookout kept running after its root was deleted\n" << lk->describe();
  EXPECT_NE(*code, 0) << lk->describe();
  EXPECT_LT(*code, 128) << "killed by a signal\n" << lk->describe();
  EXPECT_NE(lk->err().find(root), std::string::npos) << "no message naming the root:\n" << lk->err();
}

TEST_F(Cli, DeletingTheWatchedRootEndsWithAnErrorNonRecursive) {
  auto lk = start({"watch", "-m", "--json", root});
  ASSERT_EQ(::rmdir(root.c_str()), 0);
  auto code = lk->wait_exit(kWait);
  ASSERT_TRUE(code) << "lookout kept running after its root was deleted\n" << lk->describe();
  EXPECT_NE(*code, 0) << lk->describe();
  EXPECT_LT(*code, 128) << lk->describe();
  EXPECT_NE(lk->err().find(root), std::string::npos) << lk->err();
  EXPECT_NE(lk->out().find("\"event\":\"delete\""), std::string::npos) << lk->out();
}

TEST_F(Cli, OutfileReceivesTheEvents) {
  const std::string out = tmp / "events.log";
  auto lk = start({"watch", "-m", "-o", out, root});
  mkdir_ok(path("a"));
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(wait_file_contains(out, root + "/ CREATE,ISDIR cookie\n", kWait))
      << "file has: " << read_small_file(out).value_or("<missing>") << "\n" << lk->describe();
  EXPECT_EQ(read_small_file(out).value_or(""), root + "/ CREATE,ISDIR a\n" + root + "/ CREATE,ISDIR cookie\n");
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  EXPECT_EQ(lk->out(), "") << "events went to stdout too";
}

TEST_F(Cli, ExcludedDirectoryReportsNothingFromInside) {
  mkdir_ok(path("excluded_dir"));
  mkdir_ok(path("excluded_dir/sub"));
  mkdir_ok(path("keep"));
  // The path first: see OptionValuesDoNotSwallowThePath for the other order.
  auto lk = start({"watch", "-m", "-r", "--json", root, "--exclude", "/excluded_dir(/|$)"});
  write_ok(path("excluded_dir/a"), "x");
  write_ok(path("excluded_dir/sub/f"), "x");
  mkdir_ok(path("excluded_dir/new"));
  mkdir_ok(path("excluded_dir/new/deeper"));
  write_ok(path("excluded_dir/new/deeper/g"), "x");
  ASSERT_EQ(::rename(path("excluded_dir/a").c_str(), path("excluded_dir/b").c_str()), 0);
  // Created later, deep in the tree: excluded too.
  mkdir_ok(path("keep/later"));
  mkdir_ok(path("keep/later/excluded_dir"));
  write_ok(path("keep/later/excluded_dir/h"), "x");
  write_ok(path("keep/k"), "x");
  mkdir_ok(path("cookie"));
  ASSERT_TRUE(lk->wait_stdout_contains(path("cookie") + "\"", kWait)) << lk->describe();
  std::set<std::string> paths;
  for (auto& line : split_records(lk->out(), '\n')) {
    auto o = parse_json_line(line);
    ASSERT_TRUE(o) << printable(line);
    if ((*o)["event"] == "ready") continue;
    EXPECT_EQ(json_path(*o, "path").find("/excluded_dir"), std::string::npos) << "event from inside: " << line;
    EXPECT_EQ(json_path(*o, "from").find("/excluded_dir"), std::string::npos) << "event from inside: " << line;
    paths.insert(json_path(*o, "path"));
  }
  EXPECT_TRUE(paths.count(path("keep/k"))) << lk->out();
  EXPECT_TRUE(paths.count(path("keep/later"))) << lk->out();
}

// `--checksum` with polling: a rewrite that keeps size and mtime (what `touch -r` leaves) is
// printed as modify; without the flag it is not (the cookie, created after it and found by
// the same or a later full pass, proves the pass that would have reported it has run).
class CliChecksum : public Cli {
 protected:
  bool saw(LookoutProcess& lk, const std::string& event, const std::string& p) {
    for (const auto& line : split_records(lk.out(), '\n')) {
      auto obj = parse_json_line(line);
      if (obj && (*obj)["event"] == event && (*obj)["path"] == p) return true;
    }
    return false;
  }
  void rewrite_keeping_size_and_mtime(const std::string& p, const std::string& data) {
    write_ok(p, data);
    struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, 0), 0);
  }
  void run_case(bool checksum) {
    rewrite_keeping_size_and_mtime(path("f"), "content A");
    std::vector<std::string> args{"watch", "-m", "-r", "--json", "--poll", "--poll-full",
                                  "--poll-min", "0.05", "--poll-max", "0.1"};
    if (checksum) args.push_back("--checksum");
    args.push_back(root);
    auto lk = start(args);
    rewrite_keeping_size_and_mtime(path("f"), "content B");
    write_ok(path("cookie"), "");
    ASSERT_TRUE(lk->wait_until([&] { return saw(*lk, "create", path("cookie")); }, kWait)) << lk->describe();
    EXPECT_EQ(saw(*lk, "modify", path("f")), checksum) << lk->describe();
    lk->signal(SIGTERM);
    EXPECT_EQ(lk->wait_exit(kWait), std::optional<int>(0)) << lk->describe();
  }
};

TEST_F(CliChecksum, RewriteKeepingSizeAndMtimeIsAModify) { run_case(true); }
TEST_F(CliChecksum, WithoutTheFlagTheSameRewriteIsNotAModify) { run_case(false); }

}  // namespace
}  // namespace lookout::e2e
