// `lookout watch` against the real inotifywait: each case runs the same operations under both
// (each in its own fresh directory, with relative paths so the outputs are comparable byte for
// byte) and compares what they print. Covers what inotify-tools' own t/ suite checks: a file
// watched directly (%w, --csv), %c rename cookies, -P on a symlink, -d/-o with relative
// paths, and every watched directory's MOVE_SELF/DELETE_SELF under -r.
// Synchronisation: "Watches established." on stderr (or the -d parent's exit), then the
// expected last line on stdout; deadlines only matter when a case fails. Skips without
// inotifywait.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"

namespace lookout::e2e {
namespace {

using lookout::testing::TempDir;

constexpr milliseconds kWait(10000);

std::string find_inotifywait() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    std::string p = d + "/inotifywait";
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return {};
}

struct Case {
  std::function<void(const TempDir&)> setup = [](const TempDir&) {};
  std::vector<std::string> args;
  std::function<void(const TempDir&)> ops;
  // -m runs: the stdout line after which the case is over (then SIGTERM); empty: the run
  // ends by itself (first event without -m) and its exit code is compared too.
  std::string until;
};

struct Outcome {
  std::string out, err;
  int code = -1;
};

enum class Tool { inotifywait, lookout };

class InotifywaitCompat : public ::testing::Test {
 protected:
  void SetUp() override {
    iw_ = find_inotifywait();
    if (iw_.empty()) GTEST_SKIP() << "inotifywait is not installed (apt-get install inotify-tools)";
  }

  LookoutProcess::Options options(Tool t, const TempDir& dir) const {
    LookoutProcess::Options o;
    o.cwd = dir.path();
    if (t == Tool::inotifywait) o.program = iw_;
    return o;
  }
  static std::vector<std::string> argv(Tool t, std::vector<std::string> args) {
    if (t == Tool::lookout) args.insert(args.begin(), "watch");
    return args;
  }

  Outcome run(Tool t, const Case& c) {
    TempDir dir;
    c.setup(dir);
    LookoutProcess p(argv(t, c.args), options(t, dir));
    Outcome o;
    if (!p.wait_stderr_contains("Watches established.", kWait)) {
      ADD_FAILURE() << name(t) << " did not get ready\n" << p.describe();
      return o;
    }
    c.ops(dir);
    if (c.until.empty()) {
      auto code = p.wait_exit(kWait);
      EXPECT_TRUE(code) << name(t) << " did not exit\n" << p.describe();
      o.code = code.value_or(-1);
    } else {
      EXPECT_TRUE(p.wait_stdout_contains(c.until + "\n", kWait))
          << name(t) << " never printed " << c.until << "\n" << p.describe();
      p.signal(SIGTERM);
      p.wait_exit(kWait);
    }
    o.out = p.out();
    o.err = p.err();
    return o;
  }

  // Runs under both and expects the same stdout (after `normalize`) and exit code.
  void compare(const Case& c, const std::function<std::string(const std::string&)>& normalize =
                                  [](const std::string& s) { return s; }) {
    Outcome want = run(Tool::inotifywait, c);
    Outcome got = run(Tool::lookout, c);
    EXPECT_EQ(normalize(got.out), normalize(want.out))
        << "inotifywait printed:\n" << want.out << "lookout printed:\n" << got.out
        << "lookout stderr:\n" << got.err;
    if (c.until.empty()) EXPECT_EQ(got.code, want.code);
    ASSERT_FALSE(want.out.empty()) << "inotifywait printed nothing: the case proves nothing";
  }

  static const char* name(Tool t) { return t == Tool::inotifywait ? "inotifywait" : "lookout"; }
  std::string iw_;
};

void touch(const std::string& p) { lookout::testing::write_file(p, ""); }

TEST_F(InotifywaitCompat, WatchedFileIsItsOwnPercentW) {
  Case c;
  c.setup = [](const TempDir& d) { touch(d / "test-file"); };
  c.args = {"-e", "attrib", "-t", "5", "test-file"};
  c.ops = [](const TempDir& d) { ::chmod((d / "test-file").c_str(), 0600); };
  compare(c);
}

TEST_F(InotifywaitCompat, WatchedFileCsvAndFormat) {
  Case c;
  c.setup = [](const TempDir& d) { touch(d / "test-file"); };
  c.args = {"--csv", "-e", "attrib", "-t", "5", "test-file"};
  c.ops = [](const TempDir& d) { ::chmod((d / "test-file").c_str(), 0600); };
  compare(c);
  c.args = {"--format", "[%w][%f][%e][%c]", "-e", "attrib", "-t", "5", "test-file"};
  compare(c);
}

// %c: 0 for events without a cookie; the two lines of a rename share one non-zero cookie;
// moves across the border have their own. The numbers differ (kernel vs lookout's counter):
// each distinct cookie is renamed to its order of appearance before comparing.
std::string number_cookies(const std::string& out) {
  std::map<std::string, int> seen;
  std::stringstream in(out);
  std::string result;
  for (std::string line; std::getline(in, line);) {
    std::size_t sp = line.find(' ');
    std::string cookie = line.substr(0, sp);
    if (cookie != "0") {
      auto [it, fresh] = seen.emplace(cookie, static_cast<int>(seen.size()) + 1);
      cookie = "c" + std::to_string(it->second);
    }
    result += cookie + line.substr(sp == std::string::npos ? line.size() : sp) + "\n";
  }
  return result;
}

TEST_F(InotifywaitCompat, CookiePairsRenames) {
  Case c;
  c.setup = [](const TempDir& d) {
    lookout::testing::make_dirs(d / "d");
    lookout::testing::make_dirs(d / "outside");
    touch(d / "outside/in");
  };
  c.args = {"-m", "--format", "%c %e %w%f", "-e", "create", "-e", "moved_to", "-e", "moved_from", "d"};
  c.ops = [](const TempDir& d) {
    touch(d / "d/src");
    lookout::testing::rename_path(d / "d/src", d / "d/dst");
    lookout::testing::rename_path(d / "outside/in", d / "d/in");
    lookout::testing::rename_path(d / "d/dst", d / "outside/dst");
    touch(d / "d/last");
  };
  c.until = "0 CREATE d/last";
  compare(c, number_cookies);
  // And lookout's own output has the shape on its own (so both being wrong alike fails too).
  Outcome got = run(Tool::lookout, c);
  EXPECT_EQ(number_cookies(got.out),
            "0 CREATE d/src\nc1 MOVED_FROM d/src\nc1 MOVED_TO d/dst\nc2 MOVED_TO d/in\n"
            "c3 MOVED_FROM d/dst\n0 CREATE d/last\n");
}

// -P: the link itself is watched; a write to its target is not its event.
TEST_F(InotifywaitCompat, NoDereferenceWatchesTheLink) {
  Case c;
  c.setup = [](const TempDir& d) {
    touch(d / "target");
    ASSERT_EQ(::symlink("target", (d / "link").c_str()), 0);
  };
  c.args = {"-P", "-e", "attrib,modify", "-t", "5", "link"};
  c.ops = [](const TempDir& d) {
    lookout::testing::append_file(d / "target", "x");  // MODIFY if the link were followed
    timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    ::utimensat(AT_FDCWD, (d / "link").c_str(), now, AT_SYMLINK_NOFOLLOW);  // touch -h
  };
  compare(c);
  Outcome got = run(Tool::lookout, c);
  EXPECT_EQ(got.out, "link ATTRIB \n");
}

// Under -r every watched directory reports its own DELETE_SELF (before its parent's DELETE)
// and MOVE_SELF (after the rename; at the old path when it left the tree).
TEST_F(InotifywaitCompat, SelfEventsOfEveryWatchedDirectory) {
  Case c;
  c.setup = [](const TempDir& d) {
    lookout::testing::make_dirs(d / "d/a/b/c");
    lookout::testing::make_dirs(d / "d/x");
    lookout::testing::make_dirs(d / "d/last");
    lookout::testing::make_dirs(d / "outside");
    touch(d / "d/a/f");
  };
  c.args = {"-m", "-r", "-e", "move_self", "-e", "delete_self", "-e", "delete", "-e", "move",
            "--format", "%w|%f|%e", "d"};
  c.ops = [](const TempDir& d) {
    lookout::testing::remove_all(d / "d/a");
    lookout::testing::rename_path(d / "d/x", d / "d/y");
    lookout::testing::rename_path(d / "d/y", d / "outside/y");
    ::rmdir((d / "d/last").c_str());
  };
  c.until = "d/|last|DELETE,ISDIR";
  compare(c);
  c.args = {"-m", "-r", "-e", "move_self", "-e", "delete_self", "--format", "%w|%f|%e", "d"};
  c.until = "d/last/||DELETE_SELF";
  compare(c);
}

TEST_F(InotifywaitCompat, SelfEventsOfAWatchedFile) {
  Case c;
  c.setup = [](const TempDir& d) { touch(d / "f"); };
  c.args = {"-m", "-e", "delete_self,attrib", "f"};
  c.ops = [](const TempDir& d) { ::unlink((d / "f").c_str()); };
  c.until = "f DELETE_SELF ";
  compare(c);
}

// Ends any -d child left in `dir` (by pid, found by its cwd): a failing case must not leave
// a daemon behind.
void end_daemons_in(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::filesystem::path cwd = std::filesystem::read_symlink(e.path() / "cwd", ec);
    if (!ec && cwd == dir) ::kill(std::stoi(pid), SIGKILL);
  }
}

// -d: the parent exits 0 once the watches are live, keeps none of the caller's pipes, and
// the daemon still resolves a relative -o (inotify-tools issue #62) and, in lookout, a
// relative root: inotifywait 3.22 reports nothing for a relative root after -d (it sets its
// watches after forking, in another working directory), so that half is checked against the
// expected line only.
TEST_F(InotifywaitCompat, DaemonWithRelativePaths) {
  auto daemon_log = [&](Tool t, bool relative_root) {
    TempDir dir;
    lookout::testing::make_dirs(dir / "d");
    touch(dir / "log");  // inotifywait 3.22 resolves -o with realpath: it must exist
    std::string root = relative_root ? "d" : dir / "d";
    {
      LookoutProcess p(argv(t, {"-d", "-q", "-o", "log", "-t", "3", "-e", "create", root}),
                       options(t, dir));
      // Exit and EOF on stdout and stderr: the daemon let go of them.
      auto code = p.wait_exit(kWait);
      EXPECT_EQ(code, std::optional<int>(0)) << name(t) << "\n" << p.describe();
    }
    if (t == Tool::inotifywait) {
      // inotifywait's parent exits before its child has set the watches: retry until it
      // sees a create. lookout's parent exits only once they are live: one try.
      auto end = Clock::now() + kWait;
      do {
        ::unlink((dir / "d/new").c_str());
        touch(dir / "d/new");
      } while (!wait_file_contains(dir / "log", "new\n", milliseconds(100)) && Clock::now() < end);
    } else {
      touch(dir / "d/new");
    }
    EXPECT_TRUE(wait_file_contains(dir / "log", "new\n", kWait)) << name(t);
    std::string log = read_small_file(dir / "log").value_or("");
    end_daemons_in(dir.path());
    if (!relative_root && log.compare(0, dir.path().size(), dir.path()) == 0) {
      log.replace(0, dir.path().size(), "DIR");
    }
    return log;
  };
  std::string want = daemon_log(Tool::inotifywait, false);
  EXPECT_EQ(daemon_log(Tool::lookout, false), want);
  EXPECT_EQ(want, "DIR/d/ CREATE new\n");
  EXPECT_EQ(daemon_log(Tool::lookout, true), "d/ CREATE new\n");
}

TEST_F(InotifywaitCompat, DaemonNeedsAnOutfile) {
  for (Tool t : {Tool::inotifywait, Tool::lookout}) {
    TempDir dir;
    LookoutProcess p(argv(t, {"-d", "."}), options(t, dir));
    auto code = p.wait_exit(kWait);
    EXPECT_EQ(code, std::optional<int>(1)) << name(t) << "\n" << p.describe();
    EXPECT_TRUE(p.out().empty()) << name(t);
    end_daemons_in(dir.path());
  }
}

// A setup error reaches the caller: the -d parent exits 1 with the child's message.
TEST_F(InotifywaitCompat, DaemonSetupErrorReachesTheCaller) {
  TempDir dir;
  LookoutProcess p(argv(Tool::lookout, {"-d", "-o", "log", "missing"}), options(Tool::lookout, dir));
  auto code = p.wait_exit(kWait);
  EXPECT_EQ(code, std::optional<int>(1)) << p.describe();
  EXPECT_NE(p.err().find("missing"), std::string::npos) << p.err();
  end_daemons_in(dir.path());
}

}  // namespace
}  // namespace lookout::e2e
