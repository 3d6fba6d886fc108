// `lookout` as a careless or hostile user runs it: unknown commands, bad option values,
// contradictory options, a --state path that is not a state file, closed standard fds, a
// tiny fd limit, SIGINT during the initial crawl, a state file that cannot be saved.
// Every wait has a deadline (pidfd/pipes via poll); nothing sleeps.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

constexpr milliseconds kWait(20000);

// Root only: a tmpfs with the given mount options on a fresh directory, unmounted at the end.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(const char* options) {
    if (::geteuid() != 0) {
      why_ = "needs root";
    } else if (::mount("lookout-test", base_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
      why_ = "mount tmpfs: " + errno_text(errno);
    } else {
      mounted_ = true;
    }
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(base_.path().c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return base_.path(); }

 private:
  lookout::testing::TempDir base_;
  std::string why_;
  bool mounted_ = false;
};

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "root";
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  }
  lookout::testing::TempDir tmp;
  std::string root;
};

TEST_F(CliErrors, UnknownCommandExits2WithTheListOfCommands) {
  LookoutProcess lk({"frobnicate", root});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(2)) << lk.describe();
  EXPECT_NE(lk.err().find("lookout: unknown command 'frobnicate'\n"), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("watch"), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("doctor"), std::string::npos) << lk.err();
  EXPECT_EQ(lk.out(), "");
}

TEST_F(CliErrors, NoCommandPrintsTheUsageAndExits2) {
  LookoutProcess lk(std::vector<std::string>{});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(2)) << lk.describe();
  EXPECT_NE(lk.err().find("usage: lookout COMMAND"), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("watch"), std::string::npos) << lk.err();
}

// Each bad command line: exit 1 (never CLI11's 104/105/109), one line on stderr that names
// the option (`needle`), short (no 300-digit range), nothing on stdout.
TEST_F(CliErrors, EveryArgumentErrorIsOneLineNamingTheOptionAndExits1) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"watch", ""}, "empty path"},
      {{"watch", "-e", "", root}, "-e/--event"},
      {{"watch", "-e", ",", root}, "-e/--event"},
      {{"watch", "-e", "no_such_event", root}, "no_such_event"},
      {{"watch", "--max-pending", "-1", root}, "--max-pending"},
      {{"watch", "--max-pending", "0", root}, "--max-pending"},
      {{"watch", "--max-pending", "abc", root}, "--max-pending"},
      {{"watch", "--reconcile-every", "nan", root}, "--reconcile-every"},
      {{"watch", "--reconcile-every", "inf", root}, "--reconcile-every"},
      {{"watch", "--reconcile-every", "-1", root}, "--reconcile-every"},
      {{"watch", "--reconcile-every", "0.0005", root}, "--reconcile-every"},
      {{"watch", "--poll-min", "nan", root}, "--poll-min"},
      {{"watch", "--poll-min", "-1", root}, "--poll-min"},
      {{"watch", "--poll-max", "inf", root}, "--poll-max"},
      {{"watch", "--poll-max", "-2", root}, "--poll-max"},
      {{"watch", "--poll-full-every", "nan", root}, "--poll-full-every"},
      {{"watch", "--poll-full-every", "-inf", root}, "--poll-full-every"},
      {{"watch", "--poll-min", "5", "--poll-max", "1", root}, "--poll-max"},
      {{"watch", "-t", "-1", root}, "--timeout"},
      {{"watch", "-t", "soon", root}, "--timeout"},
      {{"watch", "-c", "--format", "%w", root}, "--format"},
      {{"watch", "--json", "--format", "%w", root}, "--format"},
      {{"watch", "--json", "-c", root}, "--json"},
      {{"watch", "--timefmt", "%H", root}, "--timefmt"},
      {{"watch", "--timefmt", "%H", "--format", "%w %f", root}, "--timefmt"},
      {{"watch", "--format", "%T %w", root}, "--timefmt"},
      {{"watch", "--backend", "carrier-pigeon", root}, "--backend"},
      {{"watch", "--no-such-option", root}, "--no-such-option"},
      {{"watch", root, "-e"}, "--event"},
      {{"watch", "--state-reset", root}, "--state"},
      {{"doctor", "--no-such-option"}, "--no-such-option"},
      {{"doctor", ""}, "empty path"},
  };
  for (const auto& c : cases) {
    std::string shown;
    for (const auto& a : c.args) shown += "'" + a + "' ";
    LookoutProcess lk(c.args);
    EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << shown << "\n" << lk.describe();
    EXPECT_EQ(count_lines(lk.err()), 1u) << shown << "\n" << lk.err();
    EXPECT_NE(lk.err().find(c.needle), std::string::npos) << shown << "\n" << lk.err();
    EXPECT_EQ(lk.err().rfind(c.args[0] == "doctor" ? "lookout doctor: " : "lookout watch: ", 0), 0u)
        << shown << "\n" << lk.err();
    EXPECT_LT(lk.err().size(), 300u) << shown << "\n" << lk.err();
    EXPECT_EQ(lk.out(), "") << shown;
  }
}

// The edges of the allowed ranges are accepted: 0 (off) and 0.001 for --reconcile-every.
TEST_F(CliErrors, ReconcileEveryZeroAndTheMinimumAreAccepted) {
  for (const char* v : {"0", "0.001"}) {
    LookoutProcess lk({"watch", "-m", "--reconcile-every", v, "--poll-min", "0.001", root});
    ASSERT_TRUE(lk.wait_stderr_contains("Watches established.", kWait)) << v << "\n" << lk.describe();
    lk.signal(SIGTERM);
    EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << v << "\n" << lk.describe();
  }
}

// JSON Lines is a stream: --json without -m keeps running after the first event.
TEST_F(CliErrors, JsonImpliesMonitor) {
  LookoutProcess lk({"watch", "--json", root});
  ASSERT_TRUE(lk.wait_stdout_contains("{\"event\":\"ready\"}\n", kWait)) << lk.describe();
  ASSERT_EQ(::mkdir((root + "/first").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/second").c_str(), 0755), 0);
  ASSERT_TRUE(lk.wait_stdout_contains("/second\"", kWait)) << lk.describe();
  EXPECT_NE(lk.out().find("/first\""), std::string::npos) << lk.describe();
  EXPECT_FALSE(lk.exited()) << lk.describe();
  lk.signal(SIGINT);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
}

TEST_F(CliErrors, StateRefusesAFileThatIsNotAStateFile) {
  const std::string notes = tmp / "notes.txt";
  ASSERT_TRUE(write_small_file(notes, "precious\n"));
  LookoutProcess lk({"watch", "-m", "-r", "--state", notes, root});
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.describe();
  EXPECT_EQ(count_lines(lk.err()), 1u) << lk.err();
  EXPECT_NE(lk.err().find(notes), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("--state-reset"), std::string::npos) << lk.err();
  EXPECT_EQ(read_small_file(notes), std::optional<std::string>("precious\n"));
}

// Directories, devices, fifos and /proc files: refused at start with the path, no abort
// (a directory used to throw std::ios_base::failure: SIGABRT), and left as they were.
TEST_F(CliErrors, StateRefusesWhatIsNotARegularFile) {
  const std::string dir = tmp / "a-dir";
  const std::string fifo = tmp / "a-fifo";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& bad : {dir, fifo, std::string("/dev/null"), std::string("/proc/self/mem")}) {
    for (bool reset : {false, true}) {
      std::vector<std::string> args{"watch", "-m", "--state", bad, root};
      if (reset) args.insert(args.begin() + 1, "--state-reset");
      LookoutProcess lk(args);
      EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << bad << "\n" << lk.describe();
      EXPECT_EQ(count_lines(lk.err()), 1u) << bad << "\n" << lk.err();
      EXPECT_NE(lk.err().find(bad), std::string::npos) << lk.err();
    }
  }
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(CliErrors, StateResetReplacesAForeignFileWithAStateFile) {
  const std::string notes = tmp / "notes.txt";
  ASSERT_TRUE(write_small_file(notes, "not a state\n"));
  LookoutProcess lk({"watch", "-m", "-r", "--state-reset", "--state", notes, root});
  ASSERT_TRUE(lk.wait_stderr_contains("Watches established.", kWait)) << lk.describe();
  lk.signal(SIGINT);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
  auto data = read_small_file(notes);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->rfind("LOOKOUT-STATE\n", 0), 0u) << printable(*data);
  // And the next run accepts it without --state-reset.
  LookoutProcess again({"watch", "-m", "-r", "--state", notes, root});
  ASSERT_TRUE(again.wait_stderr_contains("Watches established.", kWait)) << again.describe();
  again.signal(SIGINT);
  EXPECT_EQ(again.wait_exit(kWait), std::optional<int>(0)) << again.describe();
}

// The state's directory vanishes while lookout runs: saving at exit warns with the path and
// the fix; the exit is still the signal's 0, not a crash.
TEST_F(CliErrors, StateThatCannotBeSavedIsAWarning) {
  const std::string dir = tmp / "state-dir";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  const std::string state = dir + "/lookout.state";
  LookoutProcess lk({"watch", "-m", "-r", "--state", state, root});
  ASSERT_TRUE(lk.wait_stderr_contains("Watches established.", kWait)) << lk.describe();
  ASSERT_EQ(::rmdir(dir.c_str()), 0) << errno_text(errno);
  lk.signal(SIGINT);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
  EXPECT_NE(lk.err().find(state), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("choose another"), std::string::npos) << lk.err();
}

// Root: a full tmpfs under the state file. The save fails with ENOSPC: a warning that says
// the disk is full, exit 0, and the previous state is left intact.
LOOKOUT_TEST_F(CliErrors, StateOnAFullDiskIsAWarning, LABELS(root)) {
  SmallTmpfs fs("size=64k");
  if (!fs.ok()) GTEST_SKIP() << fs.why();
  const std::string mnt = fs.path();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(::mkdir((root + "/dir-with-a-long-name-" + std::to_string(i)).c_str(), 0755), 0);
  const std::string state = mnt + "/lookout.state";
  // Fill the disk.
  {
    int fd = ::open((mnt + "/filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string block(4096, 'x');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  LookoutProcess lk({"watch", "-m", "-r", "--state", state, root});
  ASSERT_TRUE(lk.wait_stderr_contains("Watches established.", kWait)) << lk.describe();
  lk.signal(SIGINT);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0)) << lk.describe();
  EXPECT_NE(lk.err().find(state), std::string::npos) << lk.err();
  EXPECT_NE(lk.err().find("disk is full"), std::string::npos) << lk.err();
}

TEST_F(CliErrors, ClosedStdoutWithoutOutfileExits1) {
  LookoutProcess::Options opt;
  opt.close_stdout = true;
  LookoutProcess lk({"watch", "-m", root}, opt);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.err();
  EXPECT_NE(lk.err().find("standard output is closed; use -o FILE"), std::string::npos) << lk.err();
}

// fds 0-2 all closed, output to -o: the events reach the file (no internal fd took 1 or 2).
TEST_F(CliErrors, ClosedStandardFdsWithOutfileWork) {
  LookoutProcess::Options opt;
  opt.close_stdin = opt.close_stdout = opt.close_stderr = true;
  const std::string outfile = tmp / "out.txt";
  LookoutProcess lk({"watch", "-m", "--ready", "-o", outfile, root}, opt);
  ASSERT_TRUE(wait_file_contains(outfile, "READY", kWait)) << read_small_file(outfile).value_or("(none)");
  ASSERT_EQ(::mkdir((root + "/made").c_str(), 0755), 0);
  EXPECT_TRUE(wait_file_contains(outfile, "CREATE,ISDIR made\n", kWait)) << read_small_file(outfile).value_or("");
  lk.signal(SIGTERM);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(0));
}

// `ulimit -n 5`: the message blames the process's fd limit and says `ulimit -n`, not
// max_user_instances, and prints no -1.
TEST_F(CliErrors, TinyFdLimitNamesTheProcessLimit) {
  LookoutProcess::Options opt;
  opt.nofile_soft_limit = 5;
  LookoutProcess lk({"watch", "-m", root}, opt);
  EXPECT_EQ(lk.wait_exit(kWait), std::optional<int>(1)) << lk.err();
  EXPECT_NE(lk.err().find("ulimit -n"), std::string::npos) << lk.err();
  EXPECT_EQ(lk.err().find("max_user_instances"), std::string::npos) << lk.err();
  EXPECT_EQ(lk.err().find("=-1"), std::string::npos) << lk.err();
}

// SIGINT while the initial crawl of ~200,000 entries runs (polling stats every one): lookout
// exits 0 at once instead of after the crawl. The signal is sent as soon as "Setting up
// watches" is printed; that "Watches established." never comes proves the crawl was cut
// short (a signal held until the crawl's end would let it print), whatever the machine's speed.
// The tree is made on a tmpfs when root (seconds instead of a minute on a busy ext4).
LOOKOUT_TEST_F(CliErrors, SigintDuringTheInitialCrawlExitsPromptly, LABELS(slow)) {
  SmallTmpfs fs("size=256m,nr_inodes=400000");
  const std::string big = fs.ok() ? fs.path() + "/big" : root + "/big";
  ASSERT_EQ(::mkdir(big.c_str(), 0755), 0);
  for (int i = 0; i < 200; ++i) {
    std::string d = big + "/d" + std::to_string(i);
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
    for (int j = 0; j < 100; ++j) {
      std::string e = d + "/e" + std::to_string(j);
      ASSERT_EQ(::mkdir(e.c_str(), 0755), 0);
      for (int k = 0; k < 9; ++k) {
        int fd = ::open((e + "/f" + std::to_string(k)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_GE(fd, 0);
        ::close(fd);
      }
    }
  }
  LookoutProcess lk({"watch", "-m", "-r", "--backend", "poll", big});
  ASSERT_TRUE(lk.wait_stderr_contains("Setting up watches.", kWait)) << lk.describe();
  auto t0 = Clock::now();
  lk.signal(SIGINT);
  EXPECT_EQ(lk.wait_exit(milliseconds(10000)), std::optional<int>(0)) << lk.describe_threads() << lk.describe();
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_EQ(lk.err().find("Watches established."), std::string::npos)
      << "the crawl ran to its end before the signal was acted on (" << took << " ms)\n" << lk.describe();
  EXPECT_EQ(lk.out(), "");
}

}  // namespace
}  // namespace lookout::e2e
