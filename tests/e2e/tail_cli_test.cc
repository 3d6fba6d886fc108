// `lookout tail` with the real binary and real writers. Writers write numbered lines
// ("TAG N"), the test reads lookout's --json records and checks, per tag, that every number
// was seen exactly once and in order (kill -9: repeats only within the documented bound).
// Waiting is on lookout's output with deadlines that only matter when a test fails; to show
// nothing more comes, a cookie line is written last and waited for (its file is read after
// the others' lines, or in a file of its own whose line is checked last per file).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "w" + std::to_string(n), built by appending (GCC 12 warns about literal + string).
std::string tagn(const char* prefix, int n) {
  std::string t(prefix);
  t += std::to_string(n);
  return t;
}

std::string line_of(const std::string& tag, int n) { return tag + " " + std::to_string(n); }

// An append-only writer that keeps its file open, as a service does.
class Writer {
 public:
  explicit Writer(const std::string& path) { open(path); }
  ~Writer() {
    if (fd_ >= 0) ::close(fd_);
  }
  void open(const std::string& path) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("open " + path + ": " + errno_text(errno));
  }
  void write(const std::string& s) {
    if (::write(fd_, s.data(), s.size()) != static_cast<ssize_t>(s.size()))
      throw std::runtime_error("short write");
  }
  void line(const std::string& tag, int n) { write(line_of(tag, n) + "\n"); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

struct Record {
  JsonObject o;
  std::string path() const { return json_path(o, "path"); }
  std::string line() const { return json_path(o, "line"); }
  bool has(const std::string& k) const { return o.count(k) != 0; }
};

// Collects records and checks numbered lines per tag.
class Seen {
 public:
  void add(const std::string& raw) {
    auto o = parse_json_line(raw);
    if (!o) {
      bad_.push_back(raw);
      return;
    }
    Record r{*o};
    records_.push_back(r);
    if (r.has("event")) return;
    const std::string l = r.line();
    auto sp = l.rfind(' ');
    if (sp == std::string::npos) return;
    try {
      const int n = std::stoi(l.substr(sp + 1));
      numbers_[l.substr(0, sp)].push_back(n);
      by_path_[r.path()].push_back(n);
    } catch (...) {
    }
  }
  std::size_t count(const std::string& tag) const {
    auto it = numbers_.find(tag);
    return it == numbers_.end() ? 0 : it->second.size();
  }
  bool has_number(const std::string& tag, int n) const {
    auto it = numbers_.find(tag);
    return it != numbers_.end() &&
           std::find(it->second.begin(), it->second.end(), n) != it->second.end();
  }
  // "" when numbers 0..n-1 of `tag` were each seen exactly once, in order; else what is wrong.
  // "" when every file's numbers are in order (lines of one tag moved between files by
  // rotation may come from several files interleaved; within a file, order is kept).
  std::string ordered_per_file() const {
    for (const auto& [path, v] : by_path_) {
      if (!std::is_sorted(v.begin(), v.end())) return path + ": out of order";
    }
    return "";
  }
  std::string exactly(const std::string& tag, int n, bool in_order = true) const {
    auto it = numbers_.find(tag);
    std::vector<int> got = it == numbers_.end() ? std::vector<int>{} : it->second;
    std::map<int, int> times;
    for (int x : got) ++times[x];
    int lost = 0, dup = 0;
    for (int i = 0; i < n; ++i) {
      if (times[i] == 0) ++lost;
      if (times[i] > 1) dup += times[i] - 1;
    }
    bool ordered = !in_order || std::is_sorted(got.begin(), got.end());
    if (lost == 0 && dup == 0 && ordered && static_cast<int>(got.size()) == n) return "";
    std::string first_lost;
    for (int i = 0; i < n && first_lost.empty(); ++i) {
      if (times[i] == 0) first_lost = std::to_string(i);
    }
    std::string inversion;
    for (std::size_t i = 1; i < got.size() && inversion.empty(); ++i) {
      if (got[i] < got[i - 1])
        inversion = " (" + std::to_string(got[i - 1]) + " then " + std::to_string(got[i]) + ")";
    }
    return tag + ": lost " + std::to_string(lost) + " (first " + first_lost + "), duplicated " +
           std::to_string(dup) + (ordered ? "" : ", out of order" + inversion) + ", seen " +
           std::to_string(got.size()) + " of " + std::to_string(n);
  }
  const std::vector<Record>& records() const { return records_; }
  const std::map<std::string, std::vector<int>>& numbers() const { return numbers_; }
  // Where the output moved from one file to another: "first .. last path ino offset" per run
  // of lines from one file (failure messages).
  std::string transitions() const {
    std::string out, prev, last;
    for (const Record& r : records_) {
      if (r.has("event")) continue;
      std::string id = r.path() + " " + r.o.at("ino");
      if (id != prev) {
        if (!prev.empty()) out += " .. " + last + "\n";
        out += r.line() + " " + id + " @" + r.o.at("offset");
      }
      prev = id;
      last = r.line();
    }
    if (!prev.empty()) out += " .. " + last + "\n";
    return out;
  }
  std::string bad() const { return bad_.empty() ? "" : "unparsable: " + bad_.front(); }

 private:
  std::vector<Record> records_;
  std::map<std::string, std::vector<int>> numbers_;
  std::map<std::string, std::vector<int>> by_path_;
  std::vector<std::string> bad_;
};

class TailCli : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp / "logs";
    fs::create_directories(root);
    state = tmp / "state.sqlite";
  }
  void TearDown() override {
    if (lk && !lk->exited()) {
      lk->signal(SIGTERM);
      lk->wait_exit(milliseconds(30000));
    }
  }
  std::vector<std::string> base_args() { return {"tail", "--json", "--ready"}; }
  void start(std::vector<std::string> args) {
    lk = std::make_unique<LookoutProcess>(args);
    ASSERT_TRUE(lk->wait_stderr_contains("READY\n", milliseconds(30000))) << lk->describe();
  }
  // Pumps records into `seen` until pred() or the deadline.
  bool wait(Seen& seen, const std::function<bool()>& pred,
            milliseconds timeout = milliseconds(60000)) {
    return lk->wait_until(
        [&] {
          while (auto r = take()) seen.add(*r);
          return pred();
        },
        timeout);
  }
  std::optional<std::string> take() {
    const std::string& out = lk->out();
    auto nl = out.find('\n', consumed);
    if (nl == std::string::npos) return std::nullopt;
    std::string r = out.substr(consumed, nl - consumed);
    consumed = nl + 1;
    return r;
  }
  int stop(int sig = SIGTERM) {
    lk->signal(sig);
    auto code = lk->wait_exit(milliseconds(30000));
    return code ? *code : -1;
  }
  void restart_reader() { consumed = 0; }

  testing::TempDir tmp;
  std::string root, state;
  std::unique_ptr<LookoutProcess> lk;
  std::size_t consumed = 0;
};

TEST_F(TailCli, AppendsAcrossNestedFilesAndNewDirectories) {
  testing::write_file(root + "/old.log", "old 0\nold 1\nold 2\n");
  fs::create_directories(root + "/app");
  start(base_args() + std::vector<std::string>{root});
  Seen seen;
  constexpr int kLines = 300;
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      // w 0: an existing dir; w 1: a new dir made and written at once; w 2: deep new dirs.
      std::string dir = w == 0 ? root + "/app" : w == 1 ? root + "/new" : root + "/d1/d2/d3";
      fs::create_directories(dir);
      Writer out(dir + "/w" + std::to_string(w) + ".log");
      for (int i = 0; i < kLines; ++i) out.line(tagn("w", w), i);
    });
  }
  for (auto& t : writers) t.join();
  Writer(root + "/old.log").line("old", 3);
  EXPECT_TRUE(wait(seen, [&] {
    return seen.count("w0") >= kLines && seen.count("w1") >= kLines && seen.count("w2") >= kLines &&
           seen.count("old") >= 4;
  })) << lk->describe();
  for (int w = 0; w < 3; ++w) EXPECT_EQ(seen.exactly(tagn("w", w), kLines), "");
  EXPECT_EQ(seen.exactly("old", 4), "");
  EXPECT_EQ(seen.bad(), "");
  for (const Record& r : seen.records()) {
    if (r.line() == "w2 0") {
      EXPECT_EQ(r.path(), root + "/d1/d2/d3/w2.log");
    }
  }
}

TEST_F(TailCli, TextFormatsNoFilenameAndNull) {
  testing::write_file(root + "/a.log", "one\ntwo\n");
  lk =
      std::make_unique<LookoutProcess>(std::vector<std::string>{"tail", "--once", root + "/a.log"});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  EXPECT_EQ(lk->out(), root + "/a.log:one\n" + root + "/a.log:two\n");
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--no-filename", "-0", root + "/a.log"});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  EXPECT_EQ(lk->out(), std::string("one\0two\0", 8));
}

TEST_F(TailCli, RenameRotationWhileWriting) {
  start(base_args() + std::vector<std::string>{root});
  constexpr int kLines = 4000, kEvery = 700;
  Seen seen;
  int ordered_until = 0;
  {
    const std::string log = root + "/app.log";
    Writer out(log);
    int rotation = 0;
    for (int i = 0; i < kLines; ++i) {
      out.line("app", i);
      if (i % kEvery == kEvery - 1) {
        // The first two rotations come once lookout has caught up (the usual case: the old
        // file is known when it is renamed), the others at full speed (lookout may find
        // several generations at once, each read in order within its file).
        const bool caught_up = rotation < 2;
        if (caught_up) {
          ASSERT_TRUE(wait(seen, [&] { return seen.has_number("app", i); })) << lk->describe();
        }
        // logrotate's rename, then a few lines into the renamed file before the service
        // reopens (its old fd still points there), then a new file under the name.
        testing::rename_path(log, log + "." + std::to_string(++rotation));
        for (int k = 0; k < 3 && i + 1 < kLines; ++k) out.line("app", ++i);
        out.open(log);
        if (caught_up) ordered_until = i + kEvery;  // through the next rotation's old file
      }
    }
  }
  EXPECT_TRUE(wait(seen, [&] { return seen.count("app") >= kLines; })) << lk->describe();
  EXPECT_EQ(seen.exactly("app", kLines, false), "") << seen.transitions();
  EXPECT_EQ(seen.ordered_per_file(), "") << seen.transitions();
  // Where lookout knew the old file: its last lines (written after the rename) come before
  // the new file's first ones.
  std::vector<int> early;
  for (int n : seen.numbers().at("app")) {
    if (n < ordered_until) early.push_back(n);
  }
  EXPECT_TRUE(std::is_sorted(early.begin(), early.end())) << seen.transitions();
}

TEST_F(TailCli, CopyTruncateKeepsEveryLineOnce) {
  start(base_args() + std::vector<std::string>{root});
  constexpr int kLines = 3000, kEvery = 500;
  const std::string log = root + "/app.log";
  Seen seen;
  {
    Writer out(log);
    int rotation = 0;
    for (int i = 0; i < kLines; ++i) {
      out.line("app", i);
      if (i % kEvery == kEvery - 1) {
        // The first two rotations come once lookout has read up to them (a truncation it must
        // see); the others at full speed (generations it may only find as copies).
        if (rotation < 2) {
          ASSERT_TRUE(wait(seen, [&] { return seen.has_number("app", i); })) << lk->describe();
        }
        // logrotate copytruncate: copy, then truncate in place (the writer holds O_APPEND,
        // so it goes on at the new end). No line is written between copy and truncate:
        // those would be in neither file, for any reader.
        auto content = read_small_file(log);
        write_small_file(log + "." + std::to_string(++rotation), content.value_or(""));
        if (::truncate(log.c_str(), 0) != 0) throw std::runtime_error("truncate");
      }
    }
  }
  EXPECT_TRUE(wait(seen, [&] { return seen.count("app") >= kLines; })) << lk->describe();
  EXPECT_EQ(seen.exactly("app", kLines, false), "") << lk->err() << seen.transitions();
  EXPECT_EQ(seen.ordered_per_file(), "");
  bool truncated = false;
  for (const Record& r : seen.records()) {
    if (r.has("event") && r.o.at("event") == "truncated") truncated = true;
  }
  EXPECT_TRUE(truncated) << lk->err();
}

TEST_F(TailCli, DeletedWhileOpenIsReadToTheEndThenClosed) {
  start(base_args() + std::vector<std::string>{"--deleted-close", "2s", root});
  const std::string log = root + "/gone.log";
  Writer out(log);
  for (int i = 0; i < 100; ++i) out.line("gone", i);
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.count("gone") >= 100; })) << lk->describe();
  ASSERT_EQ(::unlink(log.c_str()), 0);
  for (int i = 100; i < 200; ++i) out.line("gone", i);
  EXPECT_TRUE(wait(seen, [&] {
    for (const Record& r : seen.records()) {
      if (r.has("event") && r.o.at("event") == "closed_deleted") return true;
    }
    return false;
  })) << lk->describe();
  EXPECT_EQ(seen.exactly("gone", 200), "");
}

TEST_F(TailCli, DirectoryMovedInsideTheRootKeepsOffsets) {
  fs::create_directories(root + "/a");
  start(base_args() + std::vector<std::string>{root});
  Writer out(root + "/a/f.log");
  for (int i = 0; i < 50; ++i) out.line("f", i);
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.count("f") >= 50; })) << lk->describe();
  testing::rename_path(root + "/a", root + "/b");
  for (int i = 50; i < 100; ++i) out.line("f", i);
  ASSERT_TRUE(wait(seen, [&] { return seen.count("f") >= 100; })) << lk->describe();
  EXPECT_EQ(seen.exactly("f", 100), "");
  EXPECT_EQ(seen.records().back().path(), root + "/b/f.log");
}

TEST_F(TailCli, PartialLineIsHeldThenFlushedMarkedAndContinued) {
  start(base_args() + std::vector<std::string>{"--partial-flush", "300ms", root});
  Writer out(root + "/p.log");
  out.write("whole 0\nabc");
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.records().size() >= 2; })) << lk->describe();
  EXPECT_EQ(seen.records()[0].line(), "whole 0");
  EXPECT_EQ(seen.records()[1].line(), "abc");
  EXPECT_EQ(seen.records()[1].o.at("partial"), "true");
  out.write("def\nwhole 1\n");
  ASSERT_TRUE(wait(seen, [&] { return seen.records().size() >= 4; })) << lk->describe();
  EXPECT_EQ(seen.records()[2].line(), "def");
  EXPECT_EQ(seen.records()[2].o.at("continued"), "true");
  EXPECT_EQ(seen.records()[3].line(), "whole 1");
  EXPECT_FALSE(seen.records()[3].has("continued"));
}

TEST_F(TailCli, LongLinesAreSplitAndMarked) {
  std::string big(3000, 'x');
  big[1500] = 'y';
  testing::write_file(root + "/big.log", big + "\nafter 0\n");
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--json", "--max-line", "1K", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  ASSERT_EQ(seen.records().size(), 4u) << lk->out();
  std::string joined;
  for (int i = 0; i < 3; ++i) joined += seen.records()[i].line();
  EXPECT_EQ(joined, big);
  EXPECT_EQ(seen.records()[0].o.at("split"), "true");
  EXPECT_EQ(seen.records()[1].o.at("continued"), "true");
  EXPECT_EQ(seen.records()[3].line(), "after 0");
}

TEST_F(TailCli, IdenticalFirstLinesTinyFilesAndBinaryBytes) {
  testing::write_file(root + "/a.log", "same header\nsame 0\n");
  testing::write_file(root + "/b.log", "same header\nsame 1\n");
  testing::write_file(root + "/tiny", "t\n");
  testing::write_file(root + "/bin.log", std::string("\xff\x00\xfe\n", 4));
  lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"tail", "--once", "--json", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.records().size(), 6u) << lk->out();
  std::multiset<std::string> lines;
  for (const Record& r : seen.records()) lines.insert(r.line());
  EXPECT_EQ(lines.count("same header"), 2u);
  EXPECT_EQ(lines.count("t"), 1u);
  EXPECT_EQ(lines.count(std::string("\xff\x00\xfe", 3)), 1u);
}

TEST_F(TailCli, OddNames) {
  const std::vector<std::string> names = {"a b.log", "new\nline.log", "-dash.log", "bad\xff.log",
                                          "colon:x.log"};
  for (std::size_t i = 0; i < names.size(); ++i)
    testing::write_file(root + "/" + names[i], "odd " + std::to_string(i) + "\n");
  lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"tail", "--once", "--json", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  ASSERT_EQ(seen.records().size(), names.size()) << lk->out();
  for (const Record& r : seen.records()) {
    int i = std::stoi(r.line().substr(4));
    EXPECT_EQ(r.path(), root + "/" + names[static_cast<std::size_t>(i)]);
  }
  // A leading dash as a PATH argument after "--" is a file, not an option.
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--no-filename", "--", root + "/-dash.log"},
      LookoutProcess::Options{root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  EXPECT_EQ(lk->out(), "odd 2\n");
}

TEST_F(TailCli, TermThenRestartRepeatsNothingAndFindsRotatedFile) {
  start(base_args() + std::vector<std::string>{"--state", state, root});
  const std::string log = root + "/app.log";
  Seen seen;
  {
    Writer out(log);
    for (int i = 0; i < 500; ++i) out.line("app", i);
    out.write("held");  // a partial line at the stop: emitted once, marked
    ASSERT_TRUE(wait(seen, [&] { return seen.count("app") >= 500; })) << lk->describe();
    EXPECT_EQ(stop(), 0) << lk->describe();
    while (auto r = take()) seen.add(*r);
    // While stopped: more lines, then rename rotation, then a new file.
    out.write(" 1\n");
    for (int i = 500; i < 600; ++i) out.line("app", i);
    testing::rename_path(log, log + ".1");
    for (int i = 600; i < 650; ++i) out.line("app", i);
    out.open(log);
    for (int i = 650; i < 700; ++i) out.line("app", i);
  }
  restart_reader();
  start(base_args() + std::vector<std::string>{"--state", state, root});
  EXPECT_TRUE(wait(seen, [&] { return seen.count("app") >= 700; })) << lk->describe();
  EXPECT_EQ(seen.exactly("app", 700), "");
  int held = 0;
  for (const Record& r : seen.records()) {
    if (r.line() == "held") {
      ++held;
      EXPECT_EQ(r.o.at("partial"), "true");
    }
    if (r.line() == " 1") {
      EXPECT_EQ(r.o.at("continued"), "true");
    }
  }
  EXPECT_EQ(held, 1);
}

TEST_F(TailCli, KillNineThenRestartLosesNothingRepeatsOnlyTheLastBatch) {
  constexpr int kCommitLines = 200;
  auto args =
      base_args() +
      std::vector<std::string>{
          "--state", state, "--commit-lines", std::to_string(kCommitLines), "--commit-every",
          "10m",     root};
  start(args);
  const std::string log = root + "/app.log";
  Seen first;
  Writer out(log);
  for (int i = 0; i < 1000; ++i) out.line("app", i);
  ASSERT_TRUE(wait(first, [&] { return first.count("app") >= 700; })) << lk->describe();
  EXPECT_EQ(stop(SIGKILL), 128 + SIGKILL);
  while (auto r = take()) first.add(*r);
  for (int i = 1000; i < 1500; ++i) out.line("app", i);
  restart_reader();
  start(args);
  Seen second;
  EXPECT_TRUE(wait(second, [&] { return second.has_number("app", 1499); })) << lk->describe();
  // Together: nothing lost; the repeats are the first run's last lines only, fewer than one
  // batch (--commit-lines) plus one read chunk's lines.
  const auto& a = first.numbers().at("app");
  const auto& b = second.numbers().at("app");
  ASSERT_FALSE(b.empty());
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_EQ(b.back(), 1499);
  EXPECT_LE(b.front(), a.back() + 1) << "lost lines between the runs";
  const int repeated = a.back() - b.front() + 1;
  EXPECT_LE(repeated, kCommitLines + 16384)
      << "repeated more than the last batch";  // + one 128 KiB read chunk of "app N\n"
  std::set<int> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 1500u);
  EXPECT_EQ(std::adjacent_find(b.begin(), b.end()), b.end());
}

TEST_F(TailCli, OnceReadsOnlyWhatIsNewSinceTheState) {
  Writer out(root + "/c.log");
  for (int i = 0; i < 100; ++i) out.line("c", i);
  out.write("part");
  auto once = [&] {
    lk = std::make_unique<LookoutProcess>(
        std::vector<std::string>{"tail", "--once", "--json", "--state", state, root});
    EXPECT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
    restart_reader();
  };
  Seen seen;
  once();
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.records().size(), 100u);  // the partial line waits for its newline
  out.write("ial 0\n");
  for (int i = 100; i < 150; ++i) out.line("c", i);
  once();
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.exactly("c", 150), "");
  EXPECT_EQ(seen.count("partial"), 1u);
  once();
  EXPECT_EQ(lk->out(), "");
}

TEST_F(TailCli, OnceEndsWhileAWriterKeepsWriting) {
  const std::string log = root + "/busy.log";
  {
    Writer w(log);
    for (int i = 0; i < 1000; ++i) w.line("busy", i);
  }
  std::atomic<bool> done{false};
  std::atomic<int> written{1000};
  std::thread writer([&] {
    Writer w(log);
    while (!done) w.line("busy", written++);
  });
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--json", "--state", state, root});
  auto code = lk->wait_exit(milliseconds(60000));
  done = true;
  writer.join();
  ASSERT_TRUE(code) << "--once did not end while the file kept growing\n" << lk->describe();
  EXPECT_EQ(*code, 0);
  Seen seen;
  while (auto r = take()) seen.add(*r);
  const int got = static_cast<int>(seen.count("busy"));
  EXPECT_GE(got, 1000);
  EXPECT_EQ(seen.exactly("busy", got), "");  // a prefix, each line once
  // The next run goes on from there, to the end of what was written.
  restart_reader();
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--json", "--state", state, root});
  ASSERT_EQ(lk->wait_exit(milliseconds(60000)), 0) << lk->describe();
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.exactly("busy", written.load()), "");
}

TEST_F(TailCli, InodeReuseIsANewFile) {
  testing::write_file(root + "/x.log", "first 0\n");
  auto once = [&] {
    lk = std::make_unique<LookoutProcess>(
        std::vector<std::string>{"tail", "--once", "--json", "--state", state, root});
    EXPECT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
    restart_reader();
  };
  once();
  // Delete and create at once: filesystems hand the freed inode to the next file (tmpfs,
  // ext4 usually do); whether it is reused or not, the new file is read from its start.
  ASSERT_EQ(::unlink((root + "/x.log").c_str()), 0);
  testing::write_file(root + "/y.log", "second 0\nsecond 1\n");
  once();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.exactly("second", 2), "") << lk->out();
  EXPECT_EQ(seen.count("first"), 0u);
}

TEST_F(TailCli, FifoIsNeverOpenedAndOthersAreRead) {
  ASSERT_EQ(::mkfifo((root + "/pipe.log").c_str(), 0644), 0);
  testing::write_file(root + "/ok.log", "ok 0\n");
  lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"tail", "--once", "--json", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  EXPECT_NE(lk->err().find(root + "/pipe.log: not a regular file"), std::string::npos) << lk->err();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.exactly("ok", 1), "");
}

// As root, the unprivileged cases run lookout as nobody through setpriv (util-linux).
std::unique_ptr<LookoutProcess> unprivileged(const std::vector<std::string>& args,
                                             std::string& skip) {
  if (!testing::is_root_user()) return std::make_unique<LookoutProcess>(args);
  if (::access("/usr/bin/setpriv", X_OK) != 0) {
    skip = "root reads every file; running as nobody needs setpriv (package util-linux)";
    return nullptr;
  }
  LookoutProcess::Options o;
  o.program = "/usr/bin/setpriv";
  std::vector<std::string> a = {"--reuid=65534", "--regid=65534", "--clear-groups", LOOKOUT_BINARY};
  a.insert(a.end(), args.begin(), args.end());
  return std::make_unique<LookoutProcess>(a, o);
}

TEST_F(TailCli, PermissionDeniedFileIsSkippedNamedAndOthersRead) {
  ::chmod(tmp.path().c_str(), 0755);
  ::chmod(root.c_str(), 0755);
  testing::write_file(root + "/secret.log", "secret 0\n");
  ::chmod((root + "/secret.log").c_str(), 0);
  testing::write_file(root + "/ok.log", "ok 0\n");
  ::chmod((root + "/ok.log").c_str(), 0644);
  std::string skip;
  lk = unprivileged({"tail", "--once", "--json", root}, skip);
  if (!lk) GTEST_SKIP() << skip;
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  EXPECT_NE(lk->err().find("cannot read " + root + "/secret.log: Permission denied"),
            std::string::npos)
      << lk->err();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  EXPECT_EQ(seen.exactly("ok", 1), "");
}

TEST_F(TailCli, UnwritableStateDirectoryIsRefusedNamingIt) {
  ::chmod(tmp.path().c_str(), 0755);
  ::chmod(root.c_str(), 0755);
  fs::create_directories(tmp / "ro");
  ::chmod((tmp / "ro").c_str(), 0555);
  std::string skip;
  lk = unprivileged({"tail", "--once", "--state", tmp / "ro/state", root}, skip);
  if (!lk) GTEST_SKIP() << skip;
  EXPECT_EQ(lk->wait_exit(milliseconds(30000)), 1) << lk->describe();
  EXPECT_NE(lk->err().find(tmp / "ro/state"), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("not writable"), std::string::npos) << lk->err();
  EXPECT_EQ(std::count(lk->err().begin(), lk->err().end(), '\n'), 1) << lk->err();
}

TEST_F(TailCli, IdleFilesAreClosedAndReopenedByIdentity) {
  start(base_args() + std::vector<std::string>{"--close-idle", "100ms", root});
  const std::string log = root + "/idle.log";
  Writer(log).line("idle", 0);
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.count("idle") >= 1; })) << lk->describe();
  auto open_now = [&] {
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(lk->pid()) + "/fd")) {
      std::error_code ec;
      if (fs::read_symlink(e.path(), ec).string() == log) return true;
    }
    return false;
  };
  // Closed once idle (the deadline only matters on failure).
  ASSERT_TRUE(lk->wait_until([&] { return !open_now(); }, milliseconds(30000))) << lk->describe();
  Writer(log).line("idle", 1);
  EXPECT_TRUE(wait(seen, [&] { return seen.count("idle") >= 2; })) << lk->describe();
  EXPECT_EQ(seen.exactly("idle", 2), "");
}

TEST_F(TailCli, BadPathsAndStatesSayWhichAndFail) {
  auto run = [&](const std::vector<std::string>& args) {
    lk = std::make_unique<LookoutProcess>(args);
    auto code = lk->wait_exit(milliseconds(30000));
    return code ? *code : -1;
  };
  EXPECT_EQ(run({"tail", root + "/missing/x.log"}), 1);
  EXPECT_NE(lk->err().find(root + "/missing/x.log"), std::string::npos) << lk->err();
  EXPECT_EQ(std::count(lk->err().begin(), lk->err().end(), '\n'), 1) << lk->err();

  testing::write_file(tmp / "corrupt", std::string(4096, 'z'));
  EXPECT_EQ(run({"tail", "--once", "--state", tmp / "corrupt", root}), 1);
  EXPECT_NE(lk->err().find(tmp / "corrupt"), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("--reset-state"), std::string::npos) << lk->err();
  EXPECT_EQ(run({"tail", "--once", "--reset-state", "--state", tmp / "corrupt", root}), 0)
      << lk->err();
  EXPECT_NE(lk->err().find("moved to"), std::string::npos) << lk->err();

  // A state of other PATHs.
  fs::create_directories(tmp / "other");
  EXPECT_EQ(run({"tail", "--once", "--state", state, root}), 0) << lk->err();
  EXPECT_EQ(run({"tail", "--once", "--state", state, tmp / "other"}), 1);
  EXPECT_NE(lk->err().find("other PATHs"), std::string::npos) << lk->err();
}

TEST_F(TailCli, SlowConsumerLosesNothing) {
  LookoutProcess::Options po;
  po.stdout_pipe_size = 4096;
  lk = std::make_unique<LookoutProcess>(base_args() + std::vector<std::string>{root}, po);
  ASSERT_TRUE(lk->wait_stderr_contains("READY\n", milliseconds(30000))) << lk->describe();
  constexpr int kLines = 20000;
  {
    Writer out(root + "/fast.log");
    // The reader (this test) does not read while the writer writes: lookout's writes block.
    for (int i = 0; i < kLines; ++i) out.line("fast", i);
  }
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] { return seen.count("fast") >= kLines; })) << lk->describe();
  EXPECT_EQ(seen.exactly("fast", kLines), "");
}

TEST_F(TailCli, GlobWithDoubleStarFindsNewDirectories) {
  start(base_args() + std::vector<std::string>{root + "/**/*.log"});
  fs::create_directories(root + "/x/y");
  Writer(root + "/x/y/a.log").line("glob", 0);
  Writer(root + "/x/y/a.txt").line("nope", 0);
  Writer(root + "/top.log").line("glob", 1);
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] { return seen.count("glob") >= 2; })) << lk->describe();
  Writer(root + "/x/cookie.log").line("cookie", 0);
  EXPECT_TRUE(wait(seen, [&] { return seen.count("cookie") >= 1; })) << lk->describe();
  EXPECT_EQ(seen.count("nope"), 0u);
}

TEST_F(TailCli, RootMovedAwayAndRecreatedIsReadAsNew) {
  start(base_args() + std::vector<std::string>{root});
  Writer out(root + "/r.log");
  out.line("r", 0);
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.count("r") >= 1; })) << lk->describe();
  testing::rename_path(root, tmp / "logs.old");
  out.line("r", 1);  // still open: read to its end under the old name
  fs::create_directories(root);
  EXPECT_TRUE(wait(seen, [&] { return seen.count("r") >= 2; })) << lk->describe();
  // The re-created root is watched once lookout sees it; a file written then is read.
  EXPECT_TRUE(lk->wait_until(
      [&] {
        Writer(root + "/n.log").line("n", static_cast<int>(seen.count("n")));
        while (auto r = take()) seen.add(*r);
        return seen.count("n") >= 1;
      },
      milliseconds(60000)))
      << lk->describe();
  EXPECT_EQ(seen.exactly("r", 2), "");
}

TEST_F(TailCli, StateInsideTheRootIsNeverRead) {
  testing::write_file(root + "/a.log", "a 0\n");
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--json", "--state", root + "/.state", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  restart_reader();
  Writer(root + "/a.log").line("a", 1);
  lk = std::make_unique<LookoutProcess>(
      std::vector<std::string>{"tail", "--once", "--json", "--state", root + "/.state", root});
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)), 0) << lk->describe();
  Seen seen;
  while (auto r = take()) seen.add(*r);
  ASSERT_EQ(seen.records().size(), 1u) << lk->out();
  EXPECT_EQ(seen.records()[0].line(), "a 1");
}

TEST_F(TailCli, TermEndsARunWhoseReaderStoppedReading) {
  // stdout: a pipe nobody reads; stderr: a file. posix_spawn directly (LookoutProcess always
  // drains stdout, which would unblock lookout).
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  const std::string err_path = tmp / "err";
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  std::vector<std::string> args = {LOOKOUT_BINARY, "tail", "--ready", "--state", state, root};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawn(&pid, LOOKOUT_BINARY, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err);
  ASSERT_TRUE(wait_file_contains(err_path, "READY", milliseconds(30000)));
  {
    Writer w(root + "/flood.log");
    std::string block;
    for (int i = 0; i < 20000; ++i) block += line_of("flood", i) + "\n";
    w.write(block);  // ~200 KiB: more than the pipe holds
  }
  // Wait until lookout has filled the pipe (its reader never reads).
  const auto end = Clock::now() + milliseconds(30000);
  int queued = 0;
  while (Clock::now() < end) {
    ::ioctl(out[0], FIONREAD, &queued);
    if (queued >= 65536) break;
    std::this_thread::yield();
  }
  ASSERT_GE(queued, 65536);
  ::kill(pid, SIGTERM);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  pollfd p{pidfd, POLLIN, 0};
  const bool exited = ::poll(&p, 1, 30000) == 1;
  if (!exited) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(pidfd);
  ::close(out[0]);
  EXPECT_TRUE(exited) << "lookout tail hung in write(2) after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status));
  auto text = read_small_file(err_path);
  EXPECT_NE(text.value_or("").find("not being read"), std::string::npos) << text.value_or("");
}

TEST_F(TailCli, PolledTreeReadsEveryLine) {
  start(base_args() +
        std::vector<std::string>{"--poll", "--poll-min", "0.05", "--poll-max", "0.2", root});
  fs::create_directories(root + "/later/deeper");
  {
    Writer a(root + "/p.log"), b(root + "/later/deeper/q.log");
    for (int i = 0; i < 200; ++i) {
      a.line("p", i);
      b.line("q", i);
    }
  }
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] { return seen.count("p") >= 200 && seen.count("q") >= 200; }))
      << lk->describe();
  EXPECT_EQ(seen.exactly("p", 200), "");
  EXPECT_EQ(seen.exactly("q", 200), "");
}

TEST_F(TailCli, MaxOpenBoundsHandlesAndReopensByIdentity) {
  constexpr int kFiles = 12;
  for (int f = 0; f < kFiles; ++f)
    testing::write_file(root + "/m" + std::to_string(f) + ".log", "");
  start(base_args() + std::vector<std::string>{"--max-open", "3", root});
  for (int round = 0; round < 5; ++round) {
    for (int f = 0; f < kFiles; ++f)
      Writer(root + "/m" + std::to_string(f) + ".log").line(tagn("m", f), round);
  }
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] {
    for (int f = 0; f < kFiles; ++f) {
      if (seen.count(tagn("m", f)) < 5) return false;
    }
    return true;
  })) << lk->describe();
  for (int f = 0; f < kFiles; ++f) EXPECT_EQ(seen.exactly(tagn("m", f), 5), "");
  // Never more than --max-open log files open at once (plus lookout's own fds).
  int logs_open = 0;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(lk->pid()) + "/fd")) {
    std::error_code ec;
    auto target = fs::read_symlink(e.path(), ec).string();
    if (target.rfind(root + "/m", 0) == 0) ++logs_open;
  }
  EXPECT_LE(logs_open, 3);
}

// More files written in turn than --max-open: closing the least recently read handle would
// close the next file due and reopen every file on every round. lookout's reads are counted
// from the kernel's side: each handle it closes is a CLOSE_NOWRITE (the writers' are
// CLOSE_WRITE).
TEST_F(TailCli, MoreFilesWrittenInTurnThanHandlesKeepMostHandles) {
  constexpr int kFiles = 12, kHandles = 8, kRounds = 10, kWarmUp = 2;
  std::vector<std::unique_ptr<Writer>> writers;
  for (int f = 0; f < kFiles; ++f)
    writers.push_back(std::make_unique<Writer>(root + "/m" + std::to_string(f) + ".log"));
  start(base_args() + std::vector<std::string>{"--max-open", std::to_string(kHandles), root});
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, root.c_str(), IN_CLOSE_NOWRITE), 0);
  auto closes = [&] {
    int n = 0;
    alignas(inotify_event) char buf[4096];
    for (ssize_t got; (got = ::read(in, buf, sizeof buf)) > 0;) {
      for (ssize_t off = 0; off < got;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0 && ev->name[0] == 'm') ++n;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    return n;
  };
  Seen seen;
  int counted = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (round == kWarmUp) (void)closes();
    for (int f = 0; f < kFiles; ++f) {
      // One line at a time, each read before the next is written: every read is its own.
      writers[static_cast<std::size_t>(f)]->line(tagn("m", f), round);
      ASSERT_TRUE(wait(seen, [&] { return seen.count(tagn("m", f)) > static_cast<std::size_t>(round); }))
          << lk->describe();
    }
  }
  counted = closes();
  ::close(in);
  for (int f = 0; f < kFiles; ++f) EXPECT_EQ(seen.exactly(tagn("m", f), kRounds), "");
  // Least recently read first: every read reopens a file, kFiles closes a round. Most
  // recently read first once every handle is busy: kHandles - 1 files keep theirs and the
  // other kFiles - kHandles + 1 share one, so that many closes a round.
  const int rounds = kRounds - kWarmUp;
  EXPECT_LE(counted, rounds * (kFiles - kHandles + 1) + kFiles) << counted << " closes";
  EXPECT_LT(counted, rounds * kFiles) << counted << " closes";
}

// Many files written at once: after a take of events naming many of them, the next round
// waits 50 ms so that each file's lines gather and are read together (src/tail/tail.cc,
// pacing). lookout's reads are counted from the kernel's side (IN_ACCESS per read). The
// writer writes a line to every file, pauses 5 ms (the workload: a busy tree), and again:
// read as they come, that is a read per line; paced, a read per file per 50 ms.
TEST_F(TailCli, ManyFilesWrittenAtOnceAreReadInRounds) {
  constexpr int kFiles = 300, kRounds = 60;
  std::vector<std::unique_ptr<Writer>> writers;
  for (int f = 0; f < kFiles; ++f)
    writers.push_back(std::make_unique<Writer>(root + "/p" + std::to_string(f) + ".log"));
  start(base_args() + std::vector<std::string>{root});
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, root.c_str(), IN_ACCESS), 0);
  int reads = 0;
  auto count_reads = [&] {
    alignas(inotify_event) char buf[65536];
    for (ssize_t got; (got = ::read(in, buf, sizeof buf)) > 0;) {
      for (ssize_t off = 0; off < got;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0 && ev->name[0] == 'p') ++reads;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
  };
  const auto began = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (int f = 0; f < kFiles; ++f) writers[static_cast<std::size_t>(f)]->line(tagn("p", f), round);
    count_reads();
    // The writers' pace (5 ms a round), meanwhile taking lookout's output: a full pipe would
    // hold lookout back, and its reads gather by themselves then.
    const auto next = std::chrono::steady_clock::now() + milliseconds(5);
    while (std::chrono::steady_clock::now() < next) lk->pump(1);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.records().size() >= static_cast<std::size_t>(kFiles * kRounds); }))
      << seen.records().size() << " records; " << lk->describe();
  count_reads();
  ::close(in);
  for (int f = 0; f < kFiles; ++f) EXPECT_EQ(seen.exactly(tagn("p", f), kRounds), "");
  // Paced: at most a read per file per 50 ms of writing, a few rounds more at the ends, and
  // half as much again for the reads that check a file's first bytes.
  const long bound = static_cast<long>(kFiles) * (ms / 50 + 4) * 3 / 2;
  EXPECT_LE(reads, bound) << reads << " reads in " << ms << " ms of writing";
  EXPECT_LT(reads, kFiles * kRounds) << reads << " reads in " << ms << " ms of writing";
}

TEST_F(TailCli, SparseFourGigabyteFileAtEndThenAppended) {
  const std::string big = root + "/sparse.log";
  {
    int fd = ::open(big.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, (4LL << 30) + 10), 0);  // 4 GiB of holes: never read in full
    ::close(fd);
  }
  start(base_args() + std::vector<std::string>{"--start-at", "end", root});
  { Writer(big).write("\nsparse 0\n"); }
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] { return seen.count("sparse") >= 1; })) << lk->describe();
  ASSERT_GE(seen.records().size(), 2u);
  // Reading starts at the end (the holes are never read): the LF ends an empty line there.
  EXPECT_EQ(seen.records()[0].line(), "");
  EXPECT_EQ(seen.records()[0].o.at("offset"), std::to_string((4LL << 30) + 10));
  EXPECT_EQ(seen.records()[1].o.at("offset"), std::to_string((4LL << 30) + 11));
}

TEST_F(TailCli, SymlinkLoopAndFileReplacedByDirectory) {
  fs::create_directories(root + "/d");
  fs::create_symlink(root, root + "/d/loop");
  fs::create_symlink(root + "/d/b", root + "/d/a");
  fs::create_symlink(root + "/d/a", root + "/d/b");
  testing::write_file(root + "/x.log", "x 0\n");
  start(base_args() + std::vector<std::string>{root});
  Seen seen;
  ASSERT_TRUE(wait(seen, [&] { return seen.count("x") >= 1; })) << lk->describe();
  ASSERT_EQ(::unlink((root + "/x.log").c_str()), 0);
  fs::create_directories(root + "/x.log");
  Writer(root + "/x.log/inner.log").line("x", 1);
  EXPECT_TRUE(wait(seen, [&] { return seen.count("x") >= 2; })) << lk->describe();
  EXPECT_EQ(seen.exactly("x", 2), "");
}

LOOKOUT_TEST_F(TailCli, OverflowRescanReadsEveryFile, LABELS(root, serial)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to lower fs.inotify.max_queued_events";
  {
    SysctlOverride small("/proc/sys/fs/inotify/max_queued_events", "32");
    ASSERT_TRUE(small.valid());
    start(base_args() + std::vector<std::string>{root});
    ASSERT_TRUE(small.restore());
  }
  // Many directories and files at once: far more records than 32 fit in the queue.
  constexpr int kDirs = 40;
  for (int d = 0; d < kDirs; ++d) {
    fs::create_directories(root + "/o" + std::to_string(d));
    Writer w(root + "/o" + std::to_string(d) + "/f.log");
    for (int i = 0; i < 20; ++i) w.line(tagn("o", d), i);
  }
  Seen seen;
  EXPECT_TRUE(wait(seen, [&] {
    for (int d = 0; d < kDirs; ++d) {
      if (seen.count(tagn("o", d)) < 20) return false;
    }
    return true;
  })) << lk->describe();
  for (int d = 0; d < kDirs; ++d) EXPECT_EQ(seen.exactly(tagn("o", d), 20), "");
}

LOOKOUT_TEST_F(TailCli, DiskFullWhileWritingStateStopsNamingIt, LABELS(root)) {
  if (!testing::is_root_user()) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const std::string small_dir = tmp / "small";
  testing::Submount mount(small_dir, "-t tmpfs -o size=256k lookout-test");
  ASSERT_TRUE(mount.ok());
  const std::string st = small_dir + "/state.sqlite";
  start(base_args() + std::vector<std::string>{"--state", st, "--commit-every", "50ms", root});
  {
    // Fill the filesystem to the last byte.
    int fd = ::open((small_dir + "/fill").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    std::string block(4096, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  for (int f = 0; f < 300; ++f) Writer(root + "/s" + std::to_string(f) + ".log").line("s", f);
  auto code = lk->wait_exit(milliseconds(60000));
  ASSERT_TRUE(code) << lk->describe();
  EXPECT_EQ(*code, 1);
  EXPECT_NE(lk->err().find(st), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("free space"), std::string::npos) << lk->err();
}

}  // namespace
}  // namespace lookout::e2e
