// `lookout stats` against the real inotifywatch: the same operations on two identical trees
// give the same table (columns, widths, order, numbers), rows follow renames, an overflow is
// said rather than hidden, and bad input exits as inotifywatch does. Each tool is stopped only
// once a SIGUSR1 table shows the last operation counted: no sleeps, no timing margins.
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/fanotify_skip.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

namespace fs = std::filesystem;

class StatsCli : public ::testing::Test {
 protected:
  // A tree "t" under its own directory, so both tools print the same row names.
  std::string make_tree(const std::string& name) {
    const std::string base = tmp / name;
    fs::create_directories(base + "/t/d");
    EXPECT_TRUE(write_small_file(base + "/t/a", "x"));
    EXPECT_TRUE(write_small_file(base + "/t/d/b", "x"));
    EXPECT_TRUE(write_small_file(base + "/t/sentinel", ""));
    // Written an hour ago, as a tree is that a user starts counting on: a file written just
    // before the watch began may have changed after it, for all a stamp can say, and the
    // engine reports a rename of one as a modify too (its write may have gone unseen).
    const timespec old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
    for (const char* f : {"/t/a", "/t/d/b", "/t/sentinel"}) {
      EXPECT_EQ(::utimensat(AT_FDCWD, (base + f).c_str(), old, 0), 0);
    }
    return base;
  }

  // inotifywatch says it collects before it installs its SIGUSR1 handler (which would kill
  // it until then): wait until /proc says the signal is caught.
  static bool catches_usr1(pid_t pid) {
    auto status = read_small_file("/proc/" + std::to_string(pid) + "/status");
    if (!status) return false;
    auto at = status->find("SigCgt:\t");
    if (at == std::string::npos) return false;
    const unsigned long long caught = std::stoull(status->substr(at + 8, 16), nullptr, 16);
    return (caught >> (SIGUSR1 - 1)) & 1;
  }

  // Runs `program args` in `base`, waits until it collects, does `ops` there, then asks for the
  // table (SIGUSR1) until it shows a `delete` column (the ops end by removing t/sentinel, and
  // nothing else deletes), stops it with SIGINT and returns its final table.
  std::string table_after(const std::string& program, std::vector<std::string> args, const std::string& base,
                          const std::function<void()>& ops, std::string* err = nullptr) {
    LookoutProcess::Options po;
    po.cwd = base;
    po.program = program;
    LookoutProcess p(args, po);
    EXPECT_TRUE(p.wait_stderr_contains("now collecting statistics", milliseconds(20000))) << p.describe();
    if (program != LOOKOUT_BINARY) {
      EXPECT_TRUE(p.wait_until([&] { return catches_usr1(p.pid()); }, milliseconds(20000))) << p.describe();
    }
    ops();
    EXPECT_EQ(::unlink((base + "/t/sentinel").c_str()), 0);
    bool counted = p.wait_until(
        [&] {
          p.signal(SIGUSR1);
          return p.pump(200), p.out().find("delete  ") != std::string::npos;
        },
        milliseconds(20000));
    EXPECT_TRUE(counted) << p.describe() << "\nstdout:\n" << p.out();
    p.signal(SIGINT);
    EXPECT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(0)) << p.describe();
    if (err) *err = p.err();
    // The last table: the one printed at exit (each SIGUSR1 table ends with a blank line).
    const std::string& out = p.out();
    const std::size_t last = out.rfind("total  ");
    if (last == std::string::npos || (last > 0 && out[last - 1] != '\n')) return out;
    return out.substr(last);
  }

  // A program reading a directory: open, one getdents64 (these directories fit in one), close.
  // One read call, not readdir's two: the kernel merges two identical ACCESS records on one
  // watch if the reader has not taken the first yet, so two would count 1 or 2 by timing.
  static void list_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << dir;
    alignas(8) char buf[8192];
    EXPECT_GT(::syscall(SYS_getdents64, fd, buf, sizeof buf), 0) << dir;
    ::close(fd);
  }

  lookout::testing::TempDir tmp;
};

// Files written, appended, read, chmod'ed and renamed, in and across directories: every
// column of these kernel events, the same numbers. (No directory is read or created: both
// tools list new directories themselves, and inotifywatch counts its own listing.)
TEST_F(StatsCli, TheTableIsInotifywatchsForTheSameOperations) {
  if (::access("/usr/bin/inotifywatch", X_OK) != 0) GTEST_SKIP() << "needs inotifywatch (apt-get install inotify-tools)";
  auto ops = [](const std::string& base) {
    return [base] {
      ASSERT_TRUE(write_small_file(base + "/t/new", "hello"));      // create open modify close_write
      ASSERT_TRUE(append_small_file(base + "/t/d/b", "more"));      // open modify close_write
      ASSERT_TRUE(read_small_file(base + "/t/a").has_value());       // open access close_nowrite
      ASSERT_EQ(::chmod((base + "/t/d/b").c_str(), 0600), 0);       // attrib
      ASSERT_EQ(::rename((base + "/t/a").c_str(), (base + "/t/c").c_str()), 0);
      ASSERT_EQ(::rename((base + "/t/d/b").c_str(), (base + "/t/b2").c_str()), 0);
    };
  };
  const std::string a = make_tree("iw"), b = make_tree("lk");
  const std::string theirs = table_after("/usr/bin/inotifywatch", {"-r", "t"}, a, ops(a));
  const std::string ours = table_after(LOOKOUT_BINARY, {"stats", "-r", "t"}, b, ops(b));
  EXPECT_EQ(ours, theirs);
  EXPECT_NE(ours.find("total  access  modify  attrib  close_write  close_nowrite  open  moved_from  moved_to"),
            std::string::npos)
      << ours;
}

// Another program listing directories (a subdirectory and the root): inotifywatch counts the
// open, access and close_nowrite on the parent's row and on the directory's own; so does
// lookout, which leaves out only its own listings (none happen here).
TEST_F(StatsCli, DirectoryReadsCountAsInotifywatchCountsThem) {
  if (::access("/usr/bin/inotifywatch", X_OK) != 0) GTEST_SKIP() << "needs inotifywatch (apt-get install inotify-tools)";
  auto ops = [](const std::string& base) {
    return [base] {
      list_dir(base + "/t/d");
      list_dir(base + "/t");
    };
  };
  const std::string a = make_tree("iw"), b = make_tree("lk");
  const std::string theirs = table_after("/usr/bin/inotifywatch", {"-r", "t"}, a, ops(a));
  const std::string ours = table_after(LOOKOUT_BINARY, {"stats", "-r", "t"}, b, ops(b));
  EXPECT_EQ(ours, theirs);
  EXPECT_NE(ours.find("close_nowrite  open"), std::string::npos) << ours;
}

// lookout's own listings (a new directory and everything in it, listed as it appears) are no
// one's reads: directories created count their creates, and one read of one after that
// counts once, on inotify and on fanotify (which says the reader's pid).
class StatsDirReads : public StatsCli, public ::testing::WithParamInterface<const char*> {
 protected:
  // The table's counts: row -> column -> count.
  static std::map<std::string, std::map<std::string, int>> parse(const std::string& table) {
    std::istringstream in(table);
    std::string line;
    std::vector<std::string> columns;
    std::map<std::string, std::map<std::string, int>> rows;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string x; words >> x;) w.push_back(x);
      if (w.empty()) continue;
      if (w[0] == "total") {
        columns = w;
        continue;
      }
      for (std::size_t i = 0; i + 1 < w.size() && i + 1 < columns.size(); ++i) {
        rows[w.back()][columns[i]] = std::stoi(w[i]);
      }
    }
    return rows;
  }
};

LOOKOUT_TEST_P(StatsDirReads, OwnListingsAreNotCounted, LABELS(root)) {
  const std::string backend = GetParam();
  const std::string base = make_tree("lk");
  if (backend == "fanotify") {
    if (::geteuid() != 0) GTEST_SKIP() << "fanotify needs root (CAP_SYS_ADMIN)";
    if (auto why = testing::fanotify_unavailable(base); !why.empty()) GTEST_SKIP() << why;
  }
  LookoutProcess::Options po;
  po.cwd = base;
  LookoutProcess p({"stats", "-r", "--backend", backend, "-e", "open,access,close_nowrite,create,delete", "t"}, po);
  ASSERT_TRUE(p.wait_stderr_contains("now collecting statistics", milliseconds(20000))) << p.describe();
  // Directories only: a file's open before lookout's watch of its directory would count or
  // not by timing.
  fs::create_directories(base + "/t/n/m/x");
  // t/n/m is listed once its subdirectory's create is counted; then another program reads it.
  auto shows = [&](const std::string& needle) {
    return p.wait_until(
        [&] {
          p.signal(SIGUSR1);
          return p.pump(200), p.out().find(needle) != std::string::npos;
        },
        milliseconds(20000));
  };
  ASSERT_TRUE(shows(" t/n/m/\n")) << p.describe() << p.out();
  list_dir(base + "/t/n/m");
  ASSERT_EQ(::unlink((base + "/t/sentinel").c_str()), 0);
  ASSERT_TRUE(shows("delete  ")) << p.describe() << p.out();
  p.signal(SIGINT);
  ASSERT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(0)) << p.describe();
  const std::string table = p.out().substr(p.out().rfind("total  "));
  auto rows = parse(table);
  const int accesses = rows["t/n/m/"]["access"];
  EXPECT_EQ(accesses, 1) << table;
  // m's read counts on its own row and on its parent's, as inotify reports it on both
  // watches.
  EXPECT_EQ(rows["t/n/m/"]["create"], 1) << table;
  EXPECT_EQ(rows["t/n/m/"]["open"], 1) << table;
  EXPECT_EQ(rows["t/n/m/"]["close_nowrite"], 1) << table;
  EXPECT_EQ(rows["t/n/"]["create"], 1) << table;
  EXPECT_EQ(rows["t/n/"]["open"], 1) << table;
  EXPECT_EQ(rows["t/n/"]["access"], accesses) << table;
  EXPECT_EQ(rows["t/n/"]["close_nowrite"], 1) << table;
  // Nothing else was read: lookout's listings of t, t/d, t/n, t/n/m and t/n/m/x are not.
  EXPECT_EQ(rows["t/n/m/"]["total"], 4) << table;
  EXPECT_EQ(rows["t/n/"]["total"], 4) << table;
  EXPECT_EQ(rows.count("t/n/m/x/"), 0u) << table;
  EXPECT_EQ(rows["t/"]["create"], 1) << table;
  EXPECT_EQ(rows["t/"]["delete"], 1) << table;
  EXPECT_EQ(rows["t/"]["total"], 2) << table;
  EXPECT_EQ(rows.count("t/d/"), 0u) << table;
}

INSTANTIATE_TEST_SUITE_P(Backends, StatsDirReads, ::testing::Values("inotify", "fanotify"));

// After `mv t/d t/e`, what was counted under t/d/ and what comes after is one row, t/e/.
TEST_F(StatsCli, RowsFollowARenamedDirectory) {
  const std::string base = make_tree("lk");
  std::string err;
  const std::string table = table_after(LOOKOUT_BINARY, {"stats", "-r", "-e", "modify,move,delete,move_self", "t"}, base,
                                        [&] {
                                          ASSERT_TRUE(append_small_file(base + "/t/d/b", "1"));
                                          ASSERT_EQ(::rename((base + "/t/d").c_str(), (base + "/t/e").c_str()), 0);
                                          ASSERT_TRUE(append_small_file(base + "/t/e/b", "2"));
                                          // Another name: two modify records of one name in a
                                          // row may be merged by the kernel before any read.
                                          ASSERT_TRUE(write_small_file(base + "/t/e/c", "3"));
                                        },
                                        &err);
  EXPECT_EQ(table,
            "total  modify  moved_from  moved_to  move_self  delete  filename\n"
            "4      3       0           0         1          0       t/e/\n"
            "3      0       1           1         0          1       t/\n")
      << table;
  EXPECT_NE(err.find("Establishing watches...\nFinished establishing watches, now collecting statistics.\n"),
            std::string::npos)
      << err;
}

// A directory moved into the tree and out again is one MOVED_TO and one MOVED_FROM on its
// parent's row, as inotify reports it; what it holds came and went with it and is not counted
// (lookout reports those entries with reason `with_parent`).
TEST_F(StatsCli, ADirectoryMovedInAndOutCountsOneRecordEach) {
  const std::string base = make_tree("lk");
  fs::create_directories(base + "/out/d/s");
  ASSERT_TRUE(write_small_file(base + "/out/d/a", "x"));
  ASSERT_TRUE(write_small_file(base + "/out/d/s/x", "x"));
  const std::string table = table_after(LOOKOUT_BINARY, {"stats", "-r", "-e", "create,delete,move", "t"}, base, [&] {
    ASSERT_EQ(::rename((base + "/out/d").c_str(), (base + "/t/d2").c_str()), 0);
    ASSERT_EQ(::rename((base + "/t/d2").c_str(), (base + "/out/d3").c_str()), 0);
  });
  EXPECT_EQ(table,
            "total  moved_from  moved_to  delete  filename\n"
            "3      1           1         1       t/\n")
      << table;
}

// A queue overflow loses kernel events: inotifywatch's counts are silently low; lookout's
// summary says so, and the JSON totals carry the rescan.
LOOKOUT_TEST_F(StatsCli, AnOverflowIsSaidNotHidden, LABELS(root, serial)) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to lower /proc/sys/fs/inotify/max_queued_events";
  const std::string base = make_tree("lk");
  std::unique_ptr<LookoutProcess> lk;
  {
    testing::SysctlOverride small("/proc/sys/fs/inotify/max_queued_events", "64");
    if (!small.valid()) GTEST_SKIP() << "/proc/sys/fs/inotify/max_queued_events is not writable here";
    LookoutProcess::Options po;
    po.cwd = base;
    lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"stats", "-r", "--backend", "inotify", "--json", "t"}, po);
    ASSERT_TRUE(lk->wait_stderr_contains("now collecting statistics", milliseconds(20000))) << lk->describe();
  }  // restored: only lookout's instance has the small queue
  lk->signal(SIGSTOP);
  ASSERT_TRUE(wait_stopped(lk->pid(), milliseconds(10000))) << lk->describe();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(write_small_file(base + "/t/n" + std::to_string(i), "x"));
  lk->signal(SIGCONT);
  ASSERT_TRUE(lk->wait_until(
      [&] {
        lk->signal(SIGUSR1);
        return lk->pump(200), lk->out().find("\"overflow\":1") != std::string::npos;
      },
      milliseconds(20000)))
      << lk->describe();
  lk->signal(SIGINT);
  EXPECT_EQ(lk->wait_exit(milliseconds(20000)), std::optional<int>(0)) << lk->describe();
  EXPECT_NE(lk->err().find("the kernel queue overflowed"), std::string::npos) << lk->err();
}

TEST_F(StatsCli, BadInputExitsOneWithOneLineNamingIt) {
  const std::string base = make_tree("lk");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"stats", base + "/missing"}, base + "/missing"},
           {{"stats", "-e", "nope", base}, "'nope' is not a valid event"},
           {{"stats", "--fromfile", base + "/no-list"}, "cannot read --fromfile " + base + "/no-list"},
           {{"stats", "-a", "total", "-d", "modify", base}, "Please specify -a or -d once only!"},
           {{"stats", "-e", "modify", "-d", "create", base}, "Can't sort by an event which isn't being watched for!"},
           {{"stats", "-a", "move", base}, "Cannot sort by `move' event"},
           {{"stats"}, "No files specified to watch!"},
       }) {
    LookoutProcess p(c.args);
    EXPECT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(1)) << p.describe();
    EXPECT_NE(p.err().find(c.says), std::string::npos) << p.err();
  }
}

// -z lists every watched directory, --files one row per file, --top the busiest, -t stops
// by itself, and with no event at all inotifywatch's "No events occurred." is said.
TEST_F(StatsCli, ZeroFilesTopAndTimeout) {
  const std::string base = make_tree("lk");
  fs::create_directories(base + "/t/quiet");
  const std::string zero = table_after(LOOKOUT_BINARY, {"stats", "-r", "-z", "-e", "delete", "t"}, base, [] {});
  EXPECT_NE(zero.find("0      0       t/quiet/\n"), std::string::npos) << zero;
  EXPECT_NE(zero.find("1      1       t/\n"), std::string::npos) << zero;
  ASSERT_TRUE(write_small_file(base + "/t/sentinel", ""));
  const std::string files = table_after(LOOKOUT_BINARY, {"stats", "-r", "--files", "--top", "1", "t"}, base, [&] {
    ASSERT_TRUE(append_small_file(base + "/t/a", "1"));
    ASSERT_TRUE(append_small_file(base + "/t/a", "2"));
  });
  EXPECT_NE(files.find("t/a\n"), std::string::npos) << files;
  EXPECT_EQ(std::count(files.begin(), files.end(), '\n'), 2) << files;
  LookoutProcess::Options po;
  po.cwd = base;
  LookoutProcess timed({"stats", "-t", "1", "t"}, po);
  EXPECT_EQ(timed.wait_exit(milliseconds(20000)), std::optional<int>(0)) << timed.describe();
  EXPECT_NE(timed.err().find("No events occurred."), std::string::npos) << timed.err();
}

}  // namespace
// --interval prints the cumulative table (here JSON) every interval without being asked, with
// a growing duration; the root's backend is named even when it is the default.
TEST_F(StatsCli, IntervalPrintsTheCumulativeCountsEveryInterval) {
  const std::string base = make_tree("lk");
  LookoutProcess::Options po;
  po.cwd = base;
  LookoutProcess p({"stats", "-r", "--json", "--interval", "0.2", "-e", "modify", "t"}, po);
  ASSERT_TRUE(p.wait_stderr_contains("now collecting statistics", milliseconds(20000))) << p.describe();
  auto totals_lines = [&] {
    std::vector<std::string> lines;
    std::istringstream in(p.out());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("{\"totals\":", 0) == 0) lines.push_back(line);
    }
    return lines;
  };
  ASSERT_TRUE(p.wait_until([&] { return p.pump(100), totals_lines().size() >= 2; }, milliseconds(20000)))
      << p.describe();
  const std::size_t before = totals_lines().size();
  ASSERT_TRUE(append_small_file(base + "/t/d/b", "1"));
  ASSERT_TRUE(p.wait_until(
      [&] {
        p.pump(100);
        auto l = totals_lines();
        return l.size() >= before + 2 && l.back().find("\"modify\":1") != std::string::npos;
      },
      milliseconds(20000)))
      << p.describe() << p.out();
  p.signal(SIGINT);
  ASSERT_EQ(p.wait_exit(milliseconds(20000)), std::optional<int>(0)) << p.describe();
  auto lines = totals_lines();
  double last = 0;
  for (const std::string& l : lines) {
    const auto at = l.find("\"duration_s\":");
    ASSERT_NE(at, std::string::npos) << l;
    const double d = std::stod(l.substr(at + 13));
    EXPECT_GE(d, last) << p.out();
    last = d;
    EXPECT_NE(l.find("\"reason\":\"inotify: default\""), std::string::npos) << l;
  }
  EXPECT_EQ(lines.front().find("\"modify\":1"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("{\"path\":\"t/d/\",\"total\":1,\"events\":{\"modify\":1}}"), std::string::npos) << p.out();
}

}  // namespace lookout::e2e
