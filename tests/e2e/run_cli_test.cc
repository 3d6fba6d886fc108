// `lookout run` with real saves and real processes: each test starts lookout on a temporary
// tree, makes changes the way editors, tools and the kubelet make them, and waits (with a
// deadline) for what the command it runs writes down. Never a bare sleep: "exactly once" is
// shown by a later change whose run comes next, not by waiting for nothing to happen.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

namespace fs = std::filesystem;

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// True once `pid` has exited (gone, or a zombie its new parent has not reaped yet).
bool wait_gone(pid_t pid, milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    auto stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
    auto paren = stat ? stat->rfind(") ") : std::string::npos;
    if (!stat || (paren != std::string::npos && stat->substr(paren + 2, 1) == "Z")) return true;
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(10));  // polling a condition, with the deadline above
  }
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "tree";
    fs::create_directories(root);
    runs = tmp / "runs";  // outside the tree: the command's writes are no change
  }
  void TearDown() override {
    if (lk && !lk->exited()) {
      lk->signal(SIGTERM);
      lk->wait_exit(milliseconds(20000));
    }
  }
  // Starts `lookout run ARGS` and waits for READY.
  void start(std::vector<std::string> args) {
    args.insert(args.begin(), {"run", "--ready"});
    lk = std::make_unique<LookoutProcess>(args);
    ASSERT_TRUE(lk->wait_stderr_contains("READY", milliseconds(20000))) << lk->describe();
  }
  // Waits until the runs file has `n` lines.
  bool wait_runs(std::size_t n, milliseconds timeout = milliseconds(20000)) {
    return lk->wait_until([&] { return lines_of(runs).size() >= n; }, timeout);
  }
  // A command that appends "LOOKOUT_CHANGED" to the runs file: one line per run.
  std::vector<std::string> count_runs() {
    return {"--", "/bin/sh", "-c", "echo \"$LOOKOUT_CHANGED\" >> '" + runs + "'"};
  }
  std::string describe() { return lk->describe() + "\nruns: " + read_small_file(runs).value_or("(none)"); }

  lookout::testing::TempDir tmp;
  std::string root, runs;
  std::unique_ptr<LookoutProcess> lk;
};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(RunCli, OneSaveRunsTheCommandOnce) {
  start(std::vector<std::string>{root} + count_runs());
  ASSERT_TRUE(write_small_file(root + "/a.conf", "v1"));  // create, modify, close_write
  ASSERT_TRUE(wait_runs(1)) << describe();
  ASSERT_TRUE(write_small_file(root + "/b.conf", "v1"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  EXPECT_EQ(lines_of(runs), (std::vector<std::string>{"1", "1"})) << describe();
}

TEST_F(RunCli, AWatchedFileSurvivesAtomicSavesTruncationAndRecreation) {
  const std::string file = root + "/app.yaml";
  ASSERT_TRUE(write_small_file(file, "v0"));
  start(std::vector<std::string>{file} + count_runs());
  // vim's save: write a new file, rename it over the old one (a new inode each time).
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(write_small_file(root + "/.app.yaml.tmp", "v" + std::to_string(i)));
    ASSERT_EQ(::rename((root + "/.app.yaml.tmp").c_str(), file.c_str()), 0);
    ASSERT_TRUE(wait_runs(i)) << describe();
  }
  // `echo > file`: truncate and write in place.
  {
    int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "v3\n", 3), 3);
    ::close(fd);
  }
  ASSERT_TRUE(wait_runs(3)) << describe();
  // Deleted and made again.
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_TRUE(wait_runs(4)) << describe();
  ASSERT_TRUE(write_small_file(file, "v4"));
  ASSERT_TRUE(wait_runs(5)) << describe();
  // A sibling is not the watched file: no run. The next save of the file is run 6.
  ASSERT_TRUE(write_small_file(root + "/other", "x"));
  ASSERT_TRUE(write_small_file(file, "v5"));
  ASSERT_TRUE(wait_runs(6)) << describe();
  EXPECT_EQ(lines_of(runs).size(), 6u) << describe();
}

TEST_F(RunCli, ABurstOfTwoThousandFilesIsOneOrTwoRuns) {
  start(std::vector<std::string>{root, "--debounce", "1s", "--max-wait", "20s"} + count_runs());
  fs::create_directories(root + "/burst");
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(write_small_file(root + "/burst/f" + std::to_string(i), "x"));
  ASSERT_TRUE(lk->wait_until(
      [&] {
        std::size_t total = 0;
        for (const auto& l : lines_of(runs)) total += std::stoul(l);
        return total >= 2001;  // every file and the directory
      },
      milliseconds(30000)))
      << describe();
  EXPECT_LE(lines_of(runs).size(), 2u) << describe();
}

TEST_F(RunCli, TheBatchReachesTheCommandAsArgumentsEnvironmentAndStdin) {
  const std::string args = tmp / "args", events = tmp / "events", in = tmp / "stdin";
  start({root, "--arg-files", "--stdin-events", "null", "--", "/bin/sh", "-c",
         "for a; do printf '%s\\0' \"$a\"; done > '" + args + "'; cat \"$LOOKOUT_EVENTS_FILE\" > '" + events +
             "'; cat > '" + in + "'; echo \"$LOOKOUT_EVENTS_FILE\" >> '" + runs + "'",
         "sh"});
  // Spaces, a newline, a leading dash and a byte that is not UTF-8: one argument, intact.
  const std::string odd = root + "/-n a\nb \xff.txt";
  ASSERT_TRUE(write_small_file(odd, "x"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  EXPECT_EQ(read_small_file(args).value_or(""), odd + std::string(1, '\0'));
  EXPECT_EQ(read_small_file(in).value_or(""), odd + std::string(1, '\0'));
  const std::string json = read_small_file(events).value_or("");
  EXPECT_NE(json.find("\"event\":\"close_write\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"path_b64\""), std::string::npos) << json;  // not UTF-8: given losslessly
  // The events file is removed once the run is over (it is, once the next run starts).
  ASSERT_TRUE(write_small_file(root + "/second", "x"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  EXPECT_FALSE(fs::exists(lines_of(runs)[0])) << lines_of(runs)[0];
}

TEST_F(RunCli, WhenTheWatchedTreeIsDeletedTheProgramIsStoppedAndLookoutSaysWhy) {
  start(std::vector<std::string>{root, "--restart", "--", "/bin/sh", "-c", "echo $$ >> '" + runs + "'; exec sleep 1000"});
  ASSERT_TRUE(wait_runs(1)) << describe();
  const pid_t server = std::stoi(lines_of(runs)[0]);
  fs::remove_all(root);
  EXPECT_EQ(lk->wait_exit(milliseconds(20000)), std::optional<int>(1)) << describe();
  EXPECT_NE(lk->err().find(root), std::string::npos) << lk->err();
  EXPECT_TRUE(wait_gone(server, milliseconds(20000))) << "the program outlived the watch";
}

TEST_F(RunCli, ReadyIsAlsoALineOfTheActionLog) {
  const std::string log = tmp / "actions.jsonl";
  start(std::vector<std::string>{root, "--log-json", log} + count_runs());
  ASSERT_FALSE(lines_of(log).empty());
  EXPECT_NE(lines_of(log)[0].find("\"event\":\"ready\""), std::string::npos) << lines_of(log)[0];
}

TEST_F(RunCli, ChangesWhileTheCommandRunsMakeExactlyOneMoreRun) {
  const std::string gate = tmp / "gate", log = tmp / "actions.jsonl";
  // The first run waits until the test opens the gate; changes meanwhile are queued.
  start(std::vector<std::string>{root, "--log-json", log} +
        std::vector<std::string>{"--", "/bin/sh", "-c",
                                 "echo \"$LOOKOUT_CHANGED\" >> '" + runs + "'; while [ ! -e '" + gate +
                                     "' ]; do sleep 0.02; done"});
  ASSERT_TRUE(write_small_file(root + "/first", "x"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(write_small_file(root + "/during" + std::to_string(i), "x"));
  // The batch of the five is due while the first run still runs: queued, not run.
  auto queued = [&] {  // paths in "queue" records so far (a slow writer may make two batches)
    std::size_t n = 0;
    for (const std::string& l : lines_of(log)) {
      const std::string key = "\"action\":\"queue\",\"count\":";
      if (auto pos = l.find(key); pos != std::string::npos) n += std::stoul(l.substr(pos + key.size()));
    }
    return n;
  };
  ASSERT_TRUE(lk->wait_until([&] { return queued() == 5; }, milliseconds(20000)))
      << describe() << read_small_file(log).value_or("");
  EXPECT_EQ(lines_of(runs).size(), 1u);
  ASSERT_TRUE(write_small_file(gate, ""));
  ASSERT_TRUE(wait_runs(2)) << describe();
  EXPECT_EQ(lines_of(runs)[1], "5") << describe();
  ASSERT_TRUE(write_small_file(root + "/after", "x"));
  ASSERT_TRUE(wait_runs(3)) << describe();
  EXPECT_EQ(lines_of(runs).size(), 3u) << describe();
}

TEST_F(RunCli, RestartModeStopsTheOldProgramBeforeStartingTheNext) {
  // A server that ignores TERM and forks a child: the group gets KILL after the timeout.
  start({root, "--restart", "--stop-timeout", "300ms", "--", "/bin/sh", "-c",
         "trap '' TERM; sleep 1000 & echo $$ >> '" + runs + "'; while :; do sleep 0.05; done"});
  ASSERT_TRUE(wait_runs(1)) << describe();  // started at launch
  const pid_t first = std::stoi(lines_of(runs)[0]);
  ASSERT_TRUE(write_small_file(root + "/x", "1"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  const pid_t second = std::stoi(lines_of(runs)[1]);
  EXPECT_NE(first, second);
  EXPECT_FALSE(process_alive(first)) << "the old program outlived its restart";
  EXPECT_TRUE(process_alive(second));
  // TERM to lookout: the program (which ignores TERM) is stopped too, lookout exits 0.
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(milliseconds(20000)), std::optional<int>(0)) << describe();
  EXPECT_FALSE(process_alive(second));
}

TEST_F(RunCli, ACrashingProgramInRestartModeIsBackedOffNotSpun) {
  start({root, "--restart", "--debounce", "10ms", "--", "/bin/sh", "-c", "echo x >> '" + runs + "'; exit 1"});
  ASSERT_TRUE(wait_runs(1)) << describe();
  ASSERT_TRUE(lk->wait_stderr_contains("exited at once", milliseconds(20000))) << describe();
  ASSERT_TRUE(write_small_file(root + "/a", "1"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  ASSERT_TRUE(write_small_file(root + "/b", "1"));
  ASSERT_TRUE(wait_runs(3)) << describe();
  EXPECT_TRUE(lk->wait_stderr_contains("the next start waits 1000 ms", milliseconds(20000))) << describe();
}

TEST_F(RunCli, SignalModeReadsThePidFileBeforeEverySend) {
  const std::string pid_file = tmp / "server.pid", marks = tmp / "hups";
  LookoutProcess::Options po;
  po.program = "/bin/sh";
  const std::string server = "trap \"echo hup >> '" + marks + "'\" HUP; echo $$ > '" + pid_file +
                             "'; while :; do sleep 0.05; done";
  auto first = std::make_unique<LookoutProcess>(std::vector<std::string>{"-c", server}, po);
  ASSERT_TRUE(first->wait_until([&] { return fs::exists(pid_file); }, milliseconds(10000)));
  start({root, "--signal", "HUP", "--pid-file", pid_file});
  ASSERT_TRUE(write_small_file(root + "/nginx.conf", "1"));
  ASSERT_TRUE(lk->wait_until([&] { return lines_of(marks).size() == 1; }, milliseconds(20000))) << describe();
  // The server restarts with a new pid: the next reload goes to it.
  first->signal(SIGKILL);
  first->wait_exit(milliseconds(10000));
  ::unlink(pid_file.c_str());
  auto second = std::make_unique<LookoutProcess>(std::vector<std::string>{"-c", server}, po);
  ASSERT_TRUE(second->wait_until([&] { return fs::exists(pid_file); }, milliseconds(10000)));
  ASSERT_TRUE(write_small_file(root + "/nginx.conf", "2"));
  ASSERT_TRUE(lk->wait_until([&] { return lines_of(marks).size() == 2; }, milliseconds(20000))) << describe();
  // A stale pid file is a warning, not a crash.
  second->signal(SIGKILL);
  second->wait_exit(milliseconds(10000));
  ASSERT_TRUE(write_small_file(root + "/nginx.conf", "3"));
  EXPECT_TRUE(lk->wait_stderr_contains("not running (a stale pid file)", milliseconds(20000))) << describe();
  EXPECT_FALSE(lk->exited());
}

TEST_F(RunCli, ACommandThatCannotRunIsNamedWith127) {
  LookoutProcess p({"run", "--initial", "--once", root, "--", tmp / "no-such-program"});
  EXPECT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(127)) << p.describe();
  EXPECT_NE(p.err().find("no-such-program"), std::string::npos) << p.err();
}

TEST_F(RunCli, OnceExitsWithTheCommandsStatus) {
  LookoutProcess p({"run", "--initial", "--once", root, "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(3)) << p.describe();
}

TEST_F(RunCli, BadArgumentsAreOneLineNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"run", root}, "no COMMAND"},
           {{"run", root, "--signal", "NOPE", "--pid", "1"}, "--signal: 'NOPE' is not a signal"},
           {{"run", root, "--pid", "1"}, "need --signal"},
           {{"run", root, "--debounce", "fast", "--", "true"}, "--debounce: 'fast' is not a duration"},
           {{"run", tmp / "missing", "--", "true"}, "missing"},
       }) {
    LookoutProcess p(c.args);
    EXPECT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(1)) << p.describe();
    EXPECT_NE(p.err().find(c.says), std::string::npos) << p.err();
    EXPECT_EQ(std::count(p.err().begin(), p.err().end(), '\n'), 1) << p.err();
  }
}

// The kubelet's AtomicWriter: the visible names are symlinks through "..data", which is
// swapped to a new "..<timestamp>" directory by one rename. One update, one run, after the
// swap, with the user's names, and the command reads the new version of every key.
TEST_F(RunCli, AKubernetesConfigMapUpdateIsOneRunWithEveryNewKey) {
  auto write_version = [&](const std::string& ts, const std::string& v) {
    fs::create_directories(root + "/" + ts);
    ASSERT_TRUE(write_small_file(root + "/" + ts + "/app.yaml", v));
    ASSERT_TRUE(write_small_file(root + "/" + ts + "/db.yaml", v));
  };
  write_version("..2026_12_05_00_00_00.1", "v1");
  fs::create_directory_symlink("..2026_12_05_00_00_00.1", root + "/..data");
  fs::create_symlink("..data/app.yaml", root + "/app.yaml");
  fs::create_symlink("..data/db.yaml", root + "/db.yaml");
  const std::string log = tmp / "actions.jsonl";
  // The program watches one key, as a config file path is usually given.
  start({root + "/app.yaml", "--log-json", log, "--", "/bin/sh", "-c",
         "cat '" + root + "/app.yaml' '" + root + "/db.yaml' | tr '\\n' ' ' >> '" + runs + "'; echo >> '" + runs + "'"});
  write_version("..2026_12_05_00_01_00.2", "v2\n");
  fs::create_directory_symlink("..2026_12_05_00_01_00.2", root + "/..data_tmp");
  ASSERT_EQ(::rename((root + "/..data_tmp").c_str(), (root + "/..data").c_str()), 0);
  fs::remove_all(root + "/..2026_12_05_00_00_00.1");
  ASSERT_TRUE(wait_runs(1)) << describe();
  EXPECT_EQ(lines_of(runs)[0], "v2 v2 ") << describe();
  const std::string actions = read_small_file(log).value_or("");
  EXPECT_NE(actions.find("\"paths\":[\"" + root + "/app.yaml\"]"), std::string::npos) << actions;
  EXPECT_EQ(actions.find(".."), std::string::npos) << "the writer's names leaked: " << actions;
  // A second update: a second run (nothing was left pending from the first).
  write_version("..2026_12_05_00_02_00.3", "v3\n");
  fs::create_directory_symlink("..2026_12_05_00_02_00.3", root + "/..data_tmp");
  ASSERT_EQ(::rename((root + "/..data_tmp").c_str(), (root + "/..data").c_str()), 0);
  ASSERT_TRUE(wait_runs(2)) << describe();
  EXPECT_EQ(lines_of(runs), (std::vector<std::string>{"v2 v2 ", "v3 v3 "})) << describe();
}

TEST_F(RunCli, SkipUnchangedActsOnlyWhenTheBytesChange) {
  const std::string file = root + "/app.conf", log = tmp / "actions.jsonl";
  ASSERT_TRUE(write_small_file(file, "same"));
  start(std::vector<std::string>{file, "--skip-unchanged", "--log-json", log} + count_runs());
  auto skips = [&] {
    std::size_t n = 0;
    for (const std::string& l : lines_of(log)) n += l.find("\"action\":\"skip\"") != std::string::npos;
    return n;
  };
  // touch: an attrib with the same bytes.
  ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), nullptr, 0), 0);
  ASSERT_TRUE(lk->wait_until([&] { return skips() == 1; }, milliseconds(20000))) << describe();
  // An atomic save of the same bytes.
  ASSERT_TRUE(write_small_file(root + "/.app.conf.tmp", "same"));
  ASSERT_EQ(::rename((root + "/.app.conf.tmp").c_str(), file.c_str()), 0);
  ASSERT_TRUE(lk->wait_until([&] { return skips() == 2; }, milliseconds(20000))) << describe();
  // New bytes: a run.
  ASSERT_TRUE(write_small_file(file, "different"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  EXPECT_EQ(skips(), 2u);
  EXPECT_EQ(lines_of(runs).size(), 1u);
}

TEST_F(RunCli, FilesFromListsThePathsWithAnyBytes) {
  const std::string a = root + "/a.c", odd = root + "/b\nc .c", list = tmp / "list";
  ASSERT_TRUE(write_small_file(a, "1"));
  ASSERT_TRUE(write_small_file(odd, "1"));
  ASSERT_TRUE(write_small_file(list, a + std::string(1, '\0') + odd + std::string(1, '\0')));
  start(std::vector<std::string>{"--files-from", list, "-0", "--arg-files"} +
        std::vector<std::string>{"--", "/bin/sh", "-c", "printf '%s\\0' \"$@\" >> '" + runs + "'", "sh"});
  ASSERT_TRUE(write_small_file(odd, "2"));
  ASSERT_TRUE(lk->wait_until([&] { return read_small_file(runs).value_or("") == odd + std::string(1, '\0'); },
                             milliseconds(20000)))
      << describe();
  ASSERT_TRUE(write_small_file(root + "/unlisted.c", "2"));  // in the directory, not in the list
  ASSERT_TRUE(write_small_file(a, "2"));
  ASSERT_TRUE(lk->wait_until(
      [&] { return read_small_file(runs).value_or("") == odd + std::string(1, '\0') + a + std::string(1, '\0'); },
      milliseconds(20000)))
      << describe();
}

TEST_F(RunCli, SedCpAndASlowlyWrittenBigFileRunOncePerSaveAfterTheLastByte) {
  const std::string file = root + "/data.csv", sizes = tmp / "sizes";
  ASSERT_TRUE(write_small_file(file, "a\n"));
  // The command writes down the size it sees: a half-written file would show less.
  start({file, "--", "/bin/sh", "-c", "stat -c %s '" + file + "' >> '" + sizes + "'; echo >> '" + runs + "'"});
  LookoutProcess::Options sed_opt;
  sed_opt.program = "/bin/sed";
  LookoutProcess sed({"-i", "s/a/b/", file}, sed_opt);  // a temp file renamed over it
  ASSERT_EQ(sed.wait_exit(milliseconds(10000)), std::optional<int>(0)) << sed.describe();
  ASSERT_TRUE(wait_runs(1)) << describe();
  const std::string src = tmp / "src.csv";
  ASSERT_TRUE(write_small_file(src, "copied\n"));
  LookoutProcess::Options cp_opt;
  cp_opt.program = "/bin/cp";
  LookoutProcess cp({src, file}, cp_opt);  // truncates and writes in place
  ASSERT_EQ(cp.wait_exit(milliseconds(10000)), std::optional<int>(0)) << cp.describe();
  ASSERT_TRUE(wait_runs(2)) << describe();
  // 64 MiB written in 1 MiB pieces over about 2.5 s (longer than --max-wait, 2 s): one run,
  // after the last byte.
  {
    int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 64; ++i) {
      ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
      ::usleep(40000);  // the slow writer being simulated, not a wait for lookout
    }
    ::close(fd);
  }
  ASSERT_TRUE(wait_runs(3)) << describe();
  // Sync: one more save, whose run must be the fourth.
  ASSERT_TRUE(write_small_file(file, "end\n"));
  ASSERT_TRUE(wait_runs(4)) << describe();
  EXPECT_EQ(lines_of(sizes)[2], std::to_string(64 << 20)) << read_small_file(sizes).value_or("");
  EXPECT_EQ(lines_of(runs).size(), 4u);
}

TEST_F(RunCli, AllowMissingStartsWhenTheFileAppears) {
  const std::string file = root + "/later.conf";
  start(std::vector<std::string>{file, "--allow-missing"} + count_runs());
  ASSERT_TRUE(write_small_file(file, "now"));
  ASSERT_TRUE(wait_runs(1)) << describe();
}

TEST_F(RunCli, OnBusyIgnoreDropsTheBatch) {
  const std::string gate = tmp / "gate", log = tmp / "actions.jsonl";
  start(std::vector<std::string>{root, "--on-busy", "ignore", "--log-json", log} +
        std::vector<std::string>{"--", "/bin/sh", "-c",
                                 "echo x >> '" + runs + "'; while [ ! -e '" + gate + "' ]; do sleep 0.02; done"});
  ASSERT_TRUE(write_small_file(root + "/a", "1"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  ASSERT_TRUE(write_small_file(root + "/b", "1"));  // while it runs: dropped
  ASSERT_TRUE(lk->wait_until([&] { return read_small_file(log).value_or("").find("\"skipped\":1") != std::string::npos; },
                             milliseconds(20000)))
      << describe();
  ASSERT_TRUE(write_small_file(gate, ""));
  ASSERT_TRUE(lk->wait_until([&] { return read_small_file(log).value_or("").find("\"action\":\"exit\"") != std::string::npos; },
                             milliseconds(20000)))
      << describe();
  EXPECT_EQ(lines_of(runs).size(), 1u);
}

TEST_F(RunCli, OnBusyRestartReplacesTheRunAndOnBusySignalSignalsIt) {
  // A run that never ends by itself: the next batch stops it (TERM) and runs anew.
  start(std::vector<std::string>{root, "--on-busy", "restart"} +
        std::vector<std::string>{"--", "/bin/sh", "-c", "echo $$ >> '" + runs + "'; exec sleep 1000"});
  ASSERT_TRUE(write_small_file(root + "/a", "1"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  const pid_t first = std::stoi(lines_of(runs)[0]);
  ASSERT_TRUE(write_small_file(root + "/b", "1"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  EXPECT_TRUE(wait_gone(first, milliseconds(20000)));
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(20000)), std::optional<int>(0)) << describe();

  // --on-busy signal: the running command gets the signal, no second run.
  const std::string usr1 = tmp / "usr1";
  ::unlink(runs.c_str());
  start(std::vector<std::string>{root, "--on-busy", "signal", "--signal", "USR1"} +
        std::vector<std::string>{"--", "/bin/sh", "-c",
                                 "trap \"echo usr1 >> '" + usr1 + "'\" USR1; echo x >> '" + runs +
                                     "'; while :; do sleep 0.05; done"});
  ASSERT_TRUE(write_small_file(root + "/c", "1"));
  ASSERT_TRUE(wait_runs(1)) << describe();
  ASSERT_TRUE(write_small_file(root + "/d", "1"));
  ASSERT_TRUE(lk->wait_until([&] { return lines_of(usr1).size() == 1; }, milliseconds(20000))) << describe();
  EXPECT_EQ(lines_of(runs).size(), 1u);
}

TEST_F(RunCli, TermDuringTheOneRunOfOnceExitsWithItsStatus) {
  start(std::vector<std::string>{root, "--once", "--initial"} +
        std::vector<std::string>{"--", "/bin/sh", "-c", "echo x >> '" + runs + "'; exec sleep 1000"});
  ASSERT_TRUE(wait_runs(1)) << describe();
  lk->signal(SIGTERM);
  EXPECT_EQ(lk->wait_exit(milliseconds(20000)), std::optional<int>(128 + SIGTERM)) << describe();
}

TEST_F(RunCli, ProgramsDieWithLookoutEvenOnKill9AndLeaveNoOrphans) {
  const std::string bg = tmp / "bg.pid";
  // Command mode: a program that leaves a background child and exits.
  {
    LookoutProcess p({"run", "--initial", "--once", root, "--", "/bin/sh", "-c", "sleep 1000 & echo $! > '" + bg + "'"});
    ASSERT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(0)) << p.describe();
    const pid_t orphan = std::stoi(read_small_file(bg).value_or("0"));
    ASSERT_GT(orphan, 0);
    EXPECT_TRUE(wait_gone(orphan, milliseconds(20000))) << "a background child of the command outlived it";
  }
  // Restart mode, lookout killed hard: the server goes too (PR_SET_PDEATHSIG).
  start(std::vector<std::string>{root, "--restart", "--", "/bin/sh", "-c",
                                 "echo $$ >> '" + runs + "'; echo \"$LOOKOUT_EVENTS_FILE\" >> '" + runs +
                                     "'; exec sleep 1000"});
  ASSERT_TRUE(wait_runs(2)) << describe();
  const pid_t server = std::stoi(lines_of(runs)[0]);
  const std::string events_file = lines_of(runs)[1];
  lk->signal(SIGKILL);
  lk->wait_exit(milliseconds(20000));
  // The kernel sends the death signal as lookout's thread exits.
  EXPECT_TRUE(wait_gone(server, milliseconds(20000))) << "the server outlived lookout";
  // The killed lookout could not remove its events file: the next one does.
  EXPECT_TRUE(fs::exists(events_file)) << events_file;
  LookoutProcess next({"run", "--initial", "--once", root, "--", "true"});
  ASSERT_EQ(next.wait_exit(milliseconds(20000)), std::optional<int>(0)) << next.describe();
  EXPECT_FALSE(fs::exists(events_file)) << events_file;
}

TEST_F(RunCli, PgrepExactSignalsEveryProcessOfThatName) {
  // A shell under a name of its own, as another container's program would be.
  const std::string exe = tmp / "lkt-reload-me";
  fs::copy_file("/bin/sh", exe);
  ::chmod(exe.c_str(), 0755);
  const std::string marks = tmp / "hups";
  LookoutProcess::Options po;
  po.program = exe;
  LookoutProcess target({"-c", "trap \"echo hup >> '" + marks + "'\" HUP; echo started >> '" + marks +
                                   "'; while :; do sleep 0.05; done"},
                        po);
  ASSERT_TRUE(target.wait_until([&] { return lines_of(marks).size() == 1; }, milliseconds(10000)));
  start({root, "--signal", "SIGHUP", "--pgrep-exact", "lkt-reload-me"});
  ASSERT_TRUE(write_small_file(root + "/x", "1"));
  ASSERT_TRUE(lk->wait_until([&] { return lines_of(marks).size() == 2; }, milliseconds(20000))) << describe();
  EXPECT_EQ(lines_of(marks)[1], "hup");
}

// An overflow is one action: the rescan and every difference it finds are one batch.
LOOKOUT_TEST_F(RunCli, AnOverflowIsOneAction, LABELS(root, serial)) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to lower /proc/sys/fs/inotify/max_queued_events";
  const std::string log = tmp / "actions.jsonl";
  {
    testing::SysctlOverride small("/proc/sys/fs/inotify/max_queued_events", "64");
    if (!small.valid()) GTEST_SKIP() << "/proc/sys/fs/inotify/max_queued_events is not writable here";
    start(std::vector<std::string>{root, "--backend", "inotify", "--log-json", log} + count_runs());
  }  // restored: only lookout's instance has the small queue
  lk->signal(SIGSTOP);
  ASSERT_TRUE(wait_stopped(lk->pid(), milliseconds(10000))) << describe();
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(write_small_file(root + "/n" + std::to_string(i), "x"));
  lk->signal(SIGCONT);
  ASSERT_TRUE(wait_runs(1)) << describe();
  ASSERT_TRUE(write_small_file(root + "/sync", "x"));
  ASSERT_TRUE(wait_runs(2)) << describe();
  // The first run carried the rescan and all 300 files (the count includes the rescan's "").
  EXPECT_GE(std::stoul(lines_of(runs)[0]), 300u) << describe() << read_small_file(log).value_or("");
  EXPECT_EQ(lines_of(runs).size(), 2u) << describe();
}

// A real HTTP server on a free loopback port, in a thread of the test: it answers the first
// `failures` POSTs with 503 and the rest with 200, and keeps the bodies it got.
class ReloadServer {
 public:
  explicit ReloadServer(int failures) : failures_(failures) {
    server_.Post("/-/reload", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(req.body);
      res.status = static_cast<int>(bodies_.size()) <= failures_ ? 503 : 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ReloadServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int failures_;
  int port_ = -1;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

TEST_F(RunCli, HttpModeRetriesUntilTheServerTakesTheBatch) {
  ReloadServer server(2);
  ASSERT_GT(server.port(), 0);
  const std::string log = tmp / "actions.jsonl";
  start({root, "--post", "http://127.0.0.1:" + std::to_string(server.port()) + "/-/reload", "--log-json", log});
  ASSERT_TRUE(write_small_file(root + "/prometheus.yml", "x"));
  auto post_line = [&] {
    for (const std::string& l : lines_of(log)) {
      if (l.find("\"action\":\"post\"") != std::string::npos) return l;
    }
    return std::string();
  };
  ASSERT_TRUE(lk->wait_until([&] { return !post_line().empty(); }, milliseconds(20000))) << describe();
  auto bodies = server.bodies();
  ASSERT_EQ(bodies.size(), 3u) << describe();  // 503, 503, 200
  EXPECT_EQ(bodies[2].rfind("{\"count\":", 0), 0u) << bodies[2];
  EXPECT_NE(bodies[2].find("\"path\":\"" + root + "/prometheus.yml\""), std::string::npos) << bodies[2];
  const std::string line = post_line();
  EXPECT_NE(line.find("\"http_status\":200,\"tries\":3"), std::string::npos) << line;
  EXPECT_TRUE(lk->err().find("failed (status 503); try 2 of 6") != std::string::npos) << lk->err();
}

TEST_F(RunCli, HttpModeGivesUpAfterItsRetriesAndGoesOn) {
  // A port nothing listens on: bind one (without listen), note it, close it.
  int port = 0;
  {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    ::close(s);
  }
  start({root, "--post", "http://127.0.0.1:" + std::to_string(port) + "/", "--retries", "1"});
  ASSERT_TRUE(write_small_file(root + "/a", "x"));
  EXPECT_TRUE(lk->wait_stderr_contains("after 2 tries; 1 changes not delivered", milliseconds(20000))) << describe();
  EXPECT_FALSE(lk->exited());
}

// cpp-httplib (with libssl and libcrypto) is a module loaded only by --post: a binary
// without it beside it, and none installed, refuses --post at start, naming the module and
// the fix, and every other command still works.
TEST_F(RunCli, PostWithoutTheHttpModuleIsRefusedAtStartAndNothingElseNeedsIt) {
  const fs::path lone = tmp / "bin/lookout";
  fs::create_directories(lone.parent_path());
  fs::copy_file(LOOKOUT_BINARY, lone);
  if (fs::exists(fs::path(LOOKOUT_MODULE_DIR) / "lookout-http.so")) {
    GTEST_SKIP() << "lookout-http.so is installed in " << LOOKOUT_MODULE_DIR << ": the binary would load it";
  }
  LookoutProcess::Options o;
  o.program = lone.string();
  LookoutProcess post({"run", root, "--post", "http://127.0.0.1:9/"}, o);
  EXPECT_EQ(post.wait_exit(milliseconds(20000)), std::optional<int>(1)) << post.describe();
  EXPECT_NE(post.err().find("lookout-http.so could not be loaded"), std::string::npos) << post.err();
  EXPECT_EQ(std::count(post.err().begin(), post.err().end(), '\n'), 1) << post.err();
  LookoutProcess once({"run", root, "--once", "--initial", "--", "true"}, o);
  EXPECT_EQ(once.wait_exit(milliseconds(20000)), std::optional<int>(0)) << once.describe();
}

}  // namespace
}  // namespace lookout::e2e
