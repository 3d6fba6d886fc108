// `lookout ingest` and `lookout history` with the real binary, real writers and real
// handlers. Each test starts lookout on a temporary drop box, writes files the way probes,
// uploads and tools write them, and waits (with a deadline that only matters on failure) for
// lookout's --json lines. The handler copies what it was given out of the box, so the test
// compares it with the hash the writer recorded: a partial read cannot hide. "Exactly once"
// is shown by the journal and the handler's own log, after a cookie file that is processed
// last; never by waiting for nothing to happen.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

namespace fs = std::filesystem;

std::string xxh3(const std::string& bytes) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(XXH3_64bits(bytes.data(), bytes.size())));
  return buf;
}

std::string content_for(int i, std::size_t size) {
  std::string s;
  s.reserve(size);
  std::uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(i + 1);
  while (s.size() < size) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s.push_back(static_cast<char>('a' + x % 26));
  }
  return s;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class IngestCli : public ::testing::Test {
 protected:
  void SetUp() override {
    box = tmp / "box";
    out = tmp / "out";  // outside the box: the handler's writes are no drop
    fs::create_directories(box);
    fs::create_directories(out + "/copies");
    journal = box + "/.lookout/journal.sqlite";
  }
  void TearDown() override {
    if (lk && !lk->exited()) {
      lk->signal(SIGTERM);
      lk->wait_exit(milliseconds(30000));
    }
  }
  // The handler: copies the file it was given to out/copies/<id> and its path to
  // out/copies/<id>.name, then appends its base name to out/log (one line per run).
  std::vector<std::string> copier() {
    return {"--", "/bin/sh", "-c",
            "cat -- \"$1\" > \"$0/copies/$LOOKOUT_ID\" && printf %s \"$1\" > \"$0/copies/$LOOKOUT_ID.name\" && "
            "printf '%s\\n' \"${1##*/}\" >> \"$0/log\"",
            out, "{}"};
  }
  void start(const std::vector<std::string>& args) {
    lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"ingest", "--ready", "--json"} + args);
    ASSERT_TRUE(lk->wait_stderr_contains("READY", milliseconds(20000))) << lk->describe();
    seen_ = 0;
  }
  // Waits until lookout has printed `n` --json lines (processed files) since start().
  bool wait_processed(std::size_t n, milliseconds timeout = milliseconds(30000)) {
    return lk->wait_until([&] { return static_cast<std::size_t>(std::count(lk->out().begin(), lk->out().end(), '\n')) >= n; },
                          timeout);
  }
  std::vector<JsonObject> processed() {
    std::vector<JsonObject> rows;
    std::istringstream in(lk->out());
    for (std::string l; std::getline(in, l);) {
      if (auto o = parse_json_line(l)) rows.push_back(*o);
    }
    return rows;
  }
  // The journal's rows through `lookout history --json` (by id).
  std::vector<JsonObject> rows(const std::vector<std::string>& extra = {}) {
    LookoutProcess h(std::vector<std::string>{"history", "--json", "--journal", journal} + extra);
    auto code = h.wait_exit(milliseconds(20000));
    EXPECT_EQ(code.value_or(-1), 0) << h.describe();
    std::vector<JsonObject> out_rows;
    std::istringstream in(h.out());
    for (std::string l; std::getline(in, l);) {
      auto o = parse_json_line(l);
      EXPECT_TRUE(o) << "not JSON: " << printable(l);
      if (o) out_rows.push_back(*o);
    }
    return out_rows;
  }
  // Writes `data` to `path` in one go (open, write, close), recording its hash.
  void drop(const std::string& path, const std::string& data) {
    ASSERT_TRUE(write_small_file(path, data)) << path;
    expected[path] = xxh3(data);
  }
  // Every copy the handler made is of a complete file: its hash is the writer's.
  void expect_complete_copies() {
    for (const auto& r : processed()) {
      if (r.at("status") != "ok") continue;
      const std::string id = r.at("id");
      auto copy = read_small_file(out + "/copies/" + id);
      auto name = read_small_file(out + "/copies/" + id + ".name");
      ASSERT_TRUE(copy && name) << "no copy for row " << id;
      ASSERT_TRUE(expected.count(*name)) << "unexpected file " << printable(*name);
      EXPECT_EQ(xxh3(*copy), expected[*name]) << "partial or wrong content for " << printable(*name);
      EXPECT_EQ(r.at("hash"), expected[*name]) << printable(*name);
    }
  }
  // How many times the handler ran per base name.
  std::map<std::string, int> runs() {
    std::map<std::string, int> n;
    for (const auto& l : lines_of(out + "/log")) ++n[l];
    return n;
  }
  std::string describe() {
    return lk->describe() + "\nhandler log:\n" + read_small_file(out + "/log").value_or("(none)");
  }

  lookout::testing::TempDir tmp;
  std::string box, out, journal;
  std::map<std::string, std::string> expected;  // path -> xxh3 the writer recorded
  std::unique_ptr<LookoutProcess> lk;
  std::size_t seen_ = 0;
};

TEST_F(IngestCli, EachFileOnceWithItsPathSizeAndHashAndTheDocumentedColumns) {
  drop(box + "/before.xml", "was there at start");
  start(std::vector<std::string>{box, "--", "/bin/sh", "-c",
                                 "printf '%s %s %s\\n' \"$LOOKOUT_FILE\" \"$LOOKOUT_SIZE\" \"$LOOKOUT_HASH\" >> \"$0/env\"; "
                                 "[ \"$1\" = \"$LOOKOUT_FILE\" ]",
                                 out, "{}"});
  drop(box + "/a.xml", "<a/>");
  drop(box + "/b.xml", "<b>two</b>");
  ASSERT_TRUE(wait_processed(3)) << describe();
  std::set<std::string> env;
  for (const auto& l : lines_of(out + "/env")) env.insert(l);
  for (const auto& [path, hash] : expected) {
    const std::string size = std::to_string(read_small_file(path)->size());
    EXPECT_TRUE(env.count(path + " " + size + " " + hash)) << path << "\n" << describe();
  }
  auto all = rows();
  ASSERT_EQ(all.size(), 3u);
  const std::vector<std::string> columns = {"id", "path", "dev", "ino", "size", "mtime_ns", "hash", "first_seen",
                                            "started", "finished", "attempts", "status", "exit_status",
                                            "duration_ms", "note", "stdout_tail", "stderr_tail", "moved_to"};
  for (const auto& r : all) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : r) keys.push_back(k);
    EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), std::set<std::string>(columns.begin(), columns.end()));
    EXPECT_EQ(r.at("status"), "ok");
    EXPECT_EQ(r.at("attempts"), "1");
    EXPECT_EQ(r.at("exit_status"), "0");
    EXPECT_EQ(r.at("hash"), expected[r.at("path")]);
    EXPECT_EQ(r.at("finished").size(), std::string("2026-12-06T02:58:07.032425Z").size());
  }
  // Nothing in lookout's own directory was taken, and nothing twice.
  EXPECT_EQ(lines_of(out + "/env").size(), 3u) << describe();
}

TEST_F(IngestCli, ASlowWriterIsTakenOnceAfterItsLastByte) {
  start(std::vector<std::string>{box} + copier());
  const std::string path = box + "/slow.xml";
  std::string data;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  // 40 writes over about two seconds, the file held open all along.
  for (int i = 0; i < 40; ++i) {
    std::string chunk = content_for(i, 1000 + i);
    ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    data += chunk;
    std::this_thread::sleep_for(milliseconds(50));  // the writer's pace, not a wait for lookout
  }
  ::close(fd);
  expected[path] = xxh3(data);
  drop(box + "/cookie.xml", "last");
  ASSERT_TRUE(wait_processed(2)) << describe();
  expect_complete_copies();
  EXPECT_EQ(runs()["slow.xml"], 1) << describe();
}

TEST_F(IngestCli, AWriterThatClosesAndReopensToAppendIsOneVersion) {
  start(std::vector<std::string>{box, "--settle", "3s"} + copier());
  const std::string path = box + "/append.log";
  std::string data;
  for (int i = 0; i < 5; ++i) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::string chunk = content_for(i, 5000);
    ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    data += chunk;
    ::close(fd);  // IN_CLOSE_WRITE five times
  }
  expected[path] = xxh3(data);
  ASSERT_TRUE(wait_processed(1)) << describe();
  drop(box + "/cookie", "c");
  ASSERT_TRUE(wait_processed(2)) << describe();
  expect_complete_copies();
  EXPECT_EQ(runs()["append.log"], 1) << describe();
}

TEST_F(IngestCli, TmpPlusRenameAndMvFromAnotherDirectoryAreTakenAtOnce) {
  // A settle far longer than the deadline: only "a rename is complete" can make these pass.
  start(std::vector<std::string>{box, "--settle", "10m"} + copier());
  drop(box + "/report.xml.tmp", "<r>partial then whole</r>");
  ASSERT_EQ(::rename((box + "/report.xml.tmp").c_str(), (box + "/report.xml").c_str()), 0);
  expected[box + "/report.xml"] = expected[box + "/report.xml.tmp"];
  fs::create_directories(tmp / "elsewhere");
  drop(tmp / "elsewhere/moved.xml", "<m/>");
  LookoutProcess mv({tmp / "elsewhere/moved.xml", box + "/moved.xml"}, LookoutProcess::Options{.program = "/bin/mv"});
  ASSERT_EQ(mv.wait_exit(milliseconds(10000)).value_or(-1), 0);
  expected[box + "/moved.xml"] = expected[tmp / "elsewhere/moved.xml"];
  ASSERT_TRUE(wait_processed(2, milliseconds(20000))) << describe();
  expect_complete_copies();
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"moved.xml", 1}, {"report.xml", 1}})) << describe();
}

TEST_F(IngestCli, CpOfABigFileIsTakenWhole) {
  const std::string src = tmp / "big.bin";
  std::string data = content_for(7, 48 << 20);
  ASSERT_TRUE(write_small_file(src, data));
  start(std::vector<std::string>{box} + copier());
  LookoutProcess cp({src, box + "/big.bin"}, LookoutProcess::Options{.program = "/bin/cp"});
  ASSERT_EQ(cp.wait_exit(milliseconds(60000)).value_or(-1), 0);
  expected[box + "/big.bin"] = xxh3(data);
  ASSERT_TRUE(wait_processed(1, milliseconds(60000))) << describe();
  expect_complete_copies();
}

TEST_F(IngestCli, NestedDropsWithRecursion) {
  start(std::vector<std::string>{box, "-r"} + copier());
  for (const char* d : {"a", "a/b", "a/b/c", "x/y"}) {
    fs::create_directories(box + "/" + d);
    drop(box + "/" + d + "/f-" + std::string(d).substr(0, 1) + std::to_string(std::string(d).size()) + ".xml",
         std::string("in ") + d);
  }
  // A tree made elsewhere and moved in whole.
  fs::create_directories(tmp / "tree/deep/er");
  drop(tmp / "tree/deep/er/in-tree.xml", "moved with its directory");
  ASSERT_EQ(::rename((tmp / "tree").c_str(), (box + "/tree").c_str()), 0);
  expected[box + "/tree/deep/er/in-tree.xml"] = expected[tmp / "tree/deep/er/in-tree.xml"];
  expected.erase(tmp / "tree/deep/er/in-tree.xml");
  ASSERT_TRUE(wait_processed(5)) << describe();
  expect_complete_copies();
  for (const auto& [name, n] : runs()) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(runs().size(), 5u) << describe();
}

LOOKOUT_TEST_F(IngestCli, ABurstOfAThousandFilesIsEachTakenOnce, LABELS(slow)) {
  start(std::vector<std::string>{box, "-j", "4"} + copier());
  for (int i = 0; i < 1000; ++i) drop(box + "/f" + std::to_string(i) + ".dat", content_for(i, 100 + i % 700));
  // Never more handlers at once than -j: lookout's children, sampled while they run.
  std::size_t most_children = 0;
  const std::string children = "/proc/" + std::to_string(lk->pid()) + "/task/" + std::to_string(lk->pid()) + "/children";
  ASSERT_TRUE(lk->wait_until(
      [&] {
        auto c = read_small_file(children);
        if (c) most_children = std::max<std::size_t>(most_children, std::count(c->begin(), c->end(), ' '));
        return std::count(lk->out().begin(), lk->out().end(), '\n') >= 1000;
      },
      milliseconds(90000)))
      << describe();
  EXPECT_LE(most_children, 4u);
  expect_complete_copies();
  auto n = runs();
  EXPECT_EQ(n.size(), 1000u);
  for (const auto& [name, count] : n) EXPECT_EQ(count, 1) << name;
}

TEST_F(IngestCli, TheHandlerGetsTheFileAsOneArgumentWhateverItsName) {
  const std::vector<std::string> names = {"with space.xml", "new\nline.xml", "-leading-dash.xml",
                                          std::string("bad\xff\xfe utf8.xml"), "quote'\"$(touch pwned)`x`.xml"};
  start(std::vector<std::string>{box} + copier());
  for (const auto& n : names) drop(box + "/" + n, "content of " + n);
  ASSERT_TRUE(wait_processed(names.size())) << describe();
  expect_complete_copies();
  EXPECT_FALSE(fs::exists(box + "/pwned")) << "a name was run as shell";
  EXPECT_FALSE(fs::exists(out + "/pwned"));
  // The journal keeps the exact bytes (path_b64 for the name that is not UTF-8).
  std::set<std::string> paths;
  for (const auto& r : rows()) paths.insert(json_path(r, "path"));
  for (const auto& n : names) EXPECT_TRUE(paths.count(box + "/" + n)) << printable(n);
}

TEST_F(IngestCli, ShellModeQuotesTheBracesAndStdinGivesTheContent) {
  start(std::vector<std::string>{box, "--shell", "--stdin", "--", "cat > '" + out + "/copies/'$LOOKOUT_ID &&",
                                 "printf %s {} > '" + out + "/copies/'$LOOKOUT_ID.name"});
  drop(box + "/it's $(odd) & \"quoted\".xml", "via stdin");
  ASSERT_TRUE(wait_processed(1)) << describe();
  expect_complete_copies();
}

TEST_F(IngestCli, StoreKeepsTheContentInTheJournalUpToStoreMax) {
  lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"ingest", "--ready", "--json", box, "--store", "--store-max", "1K"});
  ASSERT_TRUE(lk->wait_stderr_contains("READY", milliseconds(20000))) << lk->describe();
  drop(box + "/small.xml", "<probe reading=\"42\"/>");
  drop(box + "/large.xml", std::string(2000, 'x'));
  ASSERT_TRUE(wait_processed(2)) << describe();
  std::map<std::string, JsonObject> by_path;
  for (const auto& r : rows()) by_path[r.at("path")] = r;
  ASSERT_EQ(by_path.size(), 2u);
  EXPECT_EQ(by_path[box + "/small.xml"].at("status"), "ok");
  EXPECT_EQ(by_path[box + "/large.xml"].at("status"), "failed");
  EXPECT_NE(by_path[box + "/large.xml"].at("note").find("content not stored"), std::string::npos);
  auto shown = rows({"--show", by_path[box + "/small.xml"].at("id")});
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].at("content"), "<probe reading=\"42\"/>");
  // The text form too.
  LookoutProcess h({"history", "--journal", journal, "--show", by_path[box + "/small.xml"].at("id")});
  ASSERT_EQ(h.wait_exit(milliseconds(10000)).value_or(-1), 0);
  EXPECT_NE(h.out().find("<probe reading=\"42\"/>"), std::string::npos) << h.out();
}

TEST_F(IngestCli, WhatIsNotTakenIsNeverTaken) {
  fs::create_directories(tmp / "outside");
  drop(tmp / "outside/secret", "outside the box");
  start(std::vector<std::string>{box, "--match", "*.xml", "--exclude-glob", "skip-*"} + copier());
  ASSERT_EQ(::mkfifo((box + "/pipe.xml").c_str(), 0644), 0);
  ASSERT_EQ(::symlink((tmp / "outside/secret").c_str(), (box + "/link.xml").c_str()), 0);
  fs::create_directories(box + "/dir.xml");
  for (const char* n : {".hidden.xml", "x.xml.tmp", "x.xml.part", "x.xml.partial", ".x.xml.swp", "notes.txt",
                        "skip-me.xml"}) {
    drop(box + "/" + n, "not taken");
  }
  // A writer that opens the FIFO must not block lookout (it never opens it for reading).
  int wfd = ::open((box + "/pipe.xml").c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(wfd, 0);
  ASSERT_EQ(::write(wfd, "x", 1), 1);
  ::close(wfd);
  drop(box + "/cookie.xml", "taken");
  ASSERT_TRUE(wait_processed(1)) << describe();
  ASSERT_TRUE(lk->wait_stderr_contains("pipe.xml: it is a FIFO", milliseconds(20000))) << describe();
  ASSERT_TRUE(lk->wait_stderr_contains("link.xml: it is a symbolic link", milliseconds(20000))) << describe();
  drop(box + "/cookie2.xml", "taken");
  ASSERT_TRUE(wait_processed(2)) << describe();
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"cookie.xml", 1}, {"cookie2.xml", 1}})) << describe();
  EXPECT_EQ(rows().size(), 2u);
}

TEST_F(IngestCli, AFileDeletedBeforeItIsTakenLeavesNoRow) {
  start(std::vector<std::string>{box, "--settle", "2s"} + copier());
  drop(box + "/gone.xml", "here for a moment");
  ASSERT_EQ(::unlink((box + "/gone.xml").c_str()), 0);
  expected.erase(box + "/gone.xml");
  drop(box + "/cookie.xml", "c");
  ASSERT_TRUE(wait_processed(1)) << describe();
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"cookie.xml", 1}})) << describe();
  EXPECT_EQ(rows().size(), 1u);
}

TEST_F(IngestCli, AFileChangedWhileItsHandlerRunsIsProcessedAgainWithBothVersionsJournaled) {
  // The handler says it started, then waits until the test lets it go.
  start(std::vector<std::string>{box, "--", "/bin/sh", "-c",
                                 "cat -- \"$1\" > \"$0/copies/$LOOKOUT_ID\"; printf %s \"$1\" > \"$0/copies/$LOOKOUT_ID.name\"; "
                                 "touch \"$0/started-$LOOKOUT_ID\"; "
                                 "while [ ! -e \"$0/release\" ]; do sleep 0.05; done",
                                 out, "{}"});
  drop(box + "/data.csv", "v1");
  const std::string v1_hash = expected[box + "/data.csv"];
  ASSERT_TRUE(lk->wait_until([&] { return fs::exists(out + "/started-1"); }, milliseconds(20000))) << describe();
  drop(box + "/data.csv", "version two");
  ASSERT_TRUE(write_small_file(out + "/release", ""));
  ASSERT_TRUE(wait_processed(2)) << describe();
  auto all = rows();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].at("hash"), v1_hash);
  EXPECT_EQ(all[1].at("hash"), expected[box + "/data.csv"]);
  EXPECT_EQ(all[0].at("status"), "ok");
  EXPECT_EQ(all[1].at("status"), "ok");
  EXPECT_EQ(read_small_file(out + "/copies/2").value_or(""), "version two");
}

TEST_F(IngestCli, RetriesBackOffThenTheFileGoesToTheFailedDir) {
  // Fails on its first try for ok-*.xml, always for bad-*.xml.
  start(std::vector<std::string>{box, "--retries", "2", "--retry-delay", "100ms", "--failed-dir", tmp / "failed",
                                 "--done-dir", tmp / "done", "--", "/bin/sh", "-c",
                                 "echo \"try $LOOKOUT_ATTEMPT\" >&2; case \"${1##*/}\" in bad-*) exit 3;; esac; "
                                 "[ \"$LOOKOUT_ATTEMPT\" -ge 2 ]",
                                 "sh", "{}"});
  drop(box + "/bad-1.xml", "never accepted");
  drop(box + "/ok-1.xml", "accepted the second time");
  ASSERT_TRUE(wait_processed(2, milliseconds(30000))) << describe();
  std::map<std::string, JsonObject> by_name;
  for (const auto& r : rows()) by_name[fs::path(r.at("path")).filename().string()] = r;
  const JsonObject& bad = by_name["bad-1.xml"];
  EXPECT_EQ(bad.at("status"), "failed");
  EXPECT_EQ(bad.at("attempts"), "3");
  EXPECT_EQ(bad.at("exit_status"), "3");
  EXPECT_EQ(bad.at("moved_to"), tmp / "failed/bad-1.xml");
  EXPECT_NE(bad.at("stderr_tail").find("try 3"), std::string::npos) << bad.at("stderr_tail");
  EXPECT_TRUE(fs::exists(tmp / "failed/bad-1.xml"));
  const JsonObject& ok = by_name["ok-1.xml"];
  EXPECT_EQ(ok.at("status"), "ok");
  EXPECT_EQ(ok.at("attempts"), "2");
  EXPECT_EQ(ok.at("moved_to"), tmp / "done/ok-1.xml");
  EXPECT_TRUE(fs::exists(tmp / "done/ok-1.xml"));
  EXPECT_FALSE(fs::exists(box + "/ok-1.xml"));
  EXPECT_NE(lk->err().find("bad-1.xml: try 1 failed (exit 3); next in 100ms"), std::string::npos) << lk->err();
}

TEST_F(IngestCli, DeleteAfterSuccessAndADoneDirInsideTheBoxIsNotWatched) {
  start(std::vector<std::string>{box, "--delete"} + copier());
  drop(box + "/a.xml", "a");
  ASSERT_TRUE(wait_processed(1)) << describe();
  EXPECT_FALSE(fs::exists(box + "/a.xml"));
  EXPECT_NE(rows()[0].at("note").find("deleted"), std::string::npos);
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(20000)).value_or(-1), 0);
  // A done dir inside the box: what is moved there is not taken again.
  start(std::vector<std::string>{box, "-r", "--done-dir", box + "/done"} + copier());
  drop(box + "/b.xml", "b");
  ASSERT_TRUE(wait_processed(1)) << describe();
  drop(box + "/cookie.xml", "c");
  ASSERT_TRUE(wait_processed(2)) << describe();
  EXPECT_TRUE(fs::exists(box + "/done/b.xml"));
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"a.xml", 1}, {"b.xml", 1}, {"cookie.xml", 1}})) << describe();
}

TEST_F(IngestCli, ATimeoutStopsTheHandlersWholeProcessGroup) {
  const std::string marker = "61.25";  // a sleep of our own, found in /proc afterwards
  start(std::vector<std::string>{box, "--timeout", "1", "--kill-after", "500ms", "--", "/bin/sh", "-c",
                                 "trap '' TERM; sleep " + marker + " & sleep " + marker + "; wait"});
  drop(box + "/hang.xml", "h");
  ASSERT_TRUE(wait_processed(1, milliseconds(30000))) << describe();
  auto r = rows();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].at("status"), "failed");
  EXPECT_NE(r[0].at("note").find("timed out after 1s"), std::string::npos) << r[0].at("note");
  EXPECT_NE(r[0].at("note").find("KILL"), std::string::npos) << r[0].at("note");
  EXPECT_EQ(r[0].at("exit_status"), "137");
  // Nothing of the group is left.
  for (const auto& p : fs::directory_iterator("/proc")) {
    auto comm = read_small_file(p.path().string() + "/comm");
    auto cmdline = read_small_file(p.path().string() + "/cmdline");
    EXPECT_FALSE(comm && *comm == "sleep\n" && cmdline && cmdline->find(marker) != std::string::npos)
        << "left behind: " << p.path();
  }
}

TEST_F(IngestCli, AHandlerThatFloodsItsOutputOrCrashesIsBoundedAndJournaled) {
  start(std::vector<std::string>{box, "--", "/bin/sh", "-c",
                                 "case \"${1##*/}\" in flood*) head -c 30000000 /dev/zero | tr '\\0' x; echo END >&2;; "
                                 "*) kill -SEGV $$;; esac",
                                 "sh", "{}"});
  drop(box + "/flood.xml", "f");
  drop(box + "/crash.xml", "c");
  ASSERT_TRUE(wait_processed(2, milliseconds(60000))) << describe();
  std::map<std::string, JsonObject> by_name;
  for (const auto& r : rows()) by_name[fs::path(r.at("path")).filename().string()] = r;
  EXPECT_EQ(by_name["flood.xml"].at("status"), "ok");
  EXPECT_EQ(by_name["flood.xml"].at("stdout_tail"), std::string(4096, 'x'));
  EXPECT_EQ(by_name["flood.xml"].at("stderr_tail"), "END\n");
  EXPECT_EQ(by_name["crash.xml"].at("status"), "failed");
  EXPECT_NE(by_name["crash.xml"].at("note").find("signal SEGV"), std::string::npos) << by_name["crash.xml"].at("note");
}

TEST_F(IngestCli, TermWaitsForTheRunningHandlerAndARestartTakesTheRestExactlyOnce) {
  const std::vector<std::string> args = std::vector<std::string>{box, "--stop-timeout", "30s", "--", "/bin/sh", "-c",
                                                                 "sleep 0.2; printf '%s\\n' \"${1##*/}\" >> \"$0/log\"",
                                                                 out, "{}"};
  start(args);
  for (int i = 0; i < 12; ++i) drop(box + "/f" + std::to_string(i) + ".xml", content_for(i, 100));
  ASSERT_TRUE(wait_processed(3)) << describe();
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)).value_or(-1), 0) << describe();
  // Every row lookout started was finished before it exited.
  for (const auto& r : rows()) EXPECT_EQ(r.at("status"), "ok") << r.at("path");
  start(args);
  ASSERT_TRUE(lk->wait_until([&] { return rows().size() == 12 && runs().size() == 12; }, milliseconds(30000)))
      << describe();
  for (const auto& r : rows()) EXPECT_EQ(r.at("status"), "ok") << r.at("path");
  for (const auto& [name, n] : runs()) EXPECT_EQ(n, 1) << name;
}

TEST_F(IngestCli, AfterKill9TheInterruptedFileIsRetriedOnceAndNoFileIsLost) {
  // The handler marks its start, then waits to be let go (or killed with lookout).
  const std::vector<std::string> args = {box, "--", "/bin/sh", "-c",
                                         "printf '%s\\n' \"${1##*/}\" >> \"$0/started\"; "
                                         "while [ ! -e \"$0/release\" ]; do sleep 0.05; done; "
                                         "printf '%s\\n' \"${1##*/}\" >> \"$0/log\"",
                                         out, "{}"};
  start(args);
  for (int i = 0; i < 4; ++i) drop(box + "/f" + std::to_string(i) + ".xml", content_for(i, 50));
  ASSERT_TRUE(lk->wait_until([&] { return !lines_of(out + "/started").empty(); }, milliseconds(20000))) << describe();
  const std::string interrupted = lines_of(out + "/started")[0];
  lk->signal(SIGKILL);
  lk->wait_exit(milliseconds(20000));
  // Dropped while lookout is down.
  drop(box + "/while-down.xml", "d");
  ASSERT_TRUE(write_small_file(out + "/release", ""));
  start(args);
  ASSERT_TRUE(lk->wait_until([&] { return runs().size() == 5; }, milliseconds(30000))) << describe();
  ASSERT_TRUE(lk->wait_until(
      [&] {
        auto all = rows();
        return std::all_of(all.begin(), all.end(), [](const JsonObject& r) { return r.at("status") == "ok"; });
      },
      milliseconds(20000)));
  auto all = rows();
  ASSERT_EQ(all.size(), 5u) << describe();
  for (const auto& r : all) {
    const std::string name = fs::path(r.at("path")).filename().string();
    if (name == interrupted) {
      EXPECT_EQ(r.at("note"), "retried after crash");
      EXPECT_EQ(r.at("attempts"), "2");
    } else {
      EXPECT_EQ(r.at("attempts"), "1") << name;
    }
  }
  for (const auto& [name, n] : runs()) EXPECT_EQ(n, 1) << name;  // finished runs: once each
  std::map<std::string, int> starts;
  for (const auto& l : lines_of(out + "/started")) ++starts[l];
  for (const auto& [name, n] : starts) EXPECT_EQ(n, name == interrupted ? 2 : 1) << name;
}

TEST_F(IngestCli, ARestartSkipsWhatWasDoneAndTakesNewAndChangedFiles) {
  start(std::vector<std::string>{box} + copier());
  drop(box + "/same.xml", "unchanged");
  drop(box + "/edited.xml", "first");
  ASSERT_TRUE(wait_processed(2)) << describe();
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(20000)).value_or(-1), 0);
  drop(box + "/edited.xml", "second, longer");
  drop(box + "/new.xml", "dropped while down");
  start(std::vector<std::string>{box} + copier());
  ASSERT_TRUE(wait_processed(2)) << describe();
  drop(box + "/cookie.xml", "c");
  ASSERT_TRUE(wait_processed(3)) << describe();
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"same.xml", 1}, {"edited.xml", 2}, {"new.xml", 1}, {"cookie.xml", 1}}))
      << describe();
  EXPECT_EQ(rows().size(), 5u);
}

TEST_F(IngestCli, ACorruptJournalIsRefusedWithTheReasonUntilReset) {
  fs::create_directories(box + "/.lookout");
  ASSERT_TRUE(write_small_file(journal, std::string(8192, 'Z')));
  LookoutProcess bad({"ingest", box, "--", "true"});
  ASSERT_EQ(bad.wait_exit(milliseconds(20000)).value_or(-1), 1);
  EXPECT_NE(bad.err().find(journal), std::string::npos) << bad.err();
  EXPECT_NE(bad.err().find("not a database"), std::string::npos) << bad.err();
  EXPECT_NE(bad.err().find("--reset-journal"), std::string::npos) << bad.err();
  EXPECT_EQ(std::count(bad.err().begin(), bad.err().end(), '\n'), 1) << bad.err();
  start(std::vector<std::string>{box, "--reset-journal"} + copier());
  EXPECT_NE(lk->err().find("the old journal was moved to"), std::string::npos) << lk->err();
  drop(box + "/a.xml", "a");
  ASSERT_TRUE(wait_processed(1)) << describe();
}

TEST_F(IngestCli, BadArgumentsAreOneLineNamingTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {{"ingest"}, "no DIR"},
           {{"ingest", box}, "no COMMAND"},
           {{"ingest", box, "--store", "--", "cat"}, "--store"},
           {{"ingest", box, "-j", "0", "--", "cat"}, "--jobs"},
           {{"ingest", box, "--settle", "soon", "--", "cat"}, "--settle"},
           {{"ingest", box, "--timeout", "x", "--", "cat"}, "--timeout"},
           {{"ingest", box, "--store", "--store-max", "lots"}, "--store-max"},
           {{"ingest", box, "--delete", "--done-dir", tmp / "d", "--", "cat"}, "--delete"},
           {{"ingest", tmp / "missing", "--", "cat"}, tmp / "missing"},
           {{"ingest", box, "--", tmp / "no-such-program", "{}"}, "cannot run " + tmp / "no-such-program"},
           {{"ingest", box, "--", "no-such-program-anywhere", "{}"}, "no-such-program-anywhere"},
           {{"history"}, "--journal"},
           {{"history", "--journal", tmp / "none.sqlite"}, tmp / "none.sqlite"},
           {{"history", "--journal", journal, "--status", "great"}, "--status"},
           {{"history", "--journal", journal, "--since", "whenever"}, "--since"},
       }) {
    LookoutProcess p(c.args);
    auto code = p.wait_exit(milliseconds(20000));
    EXPECT_EQ(code.value_or(-1), 1) << printable(c.args.back()) << ": " << p.err();
    EXPECT_NE(p.err().find(c.says), std::string::npos) << p.err();
    EXPECT_EQ(std::count(p.err().begin(), p.err().end(), '\n'), 1) << p.err();
  }
}

TEST_F(IngestCli, APolledBoxTakesFilesWhenTheyAreQuiet) {
  start(std::vector<std::string>{box, "--backend", "poll", "--poll-min", "0.05", "--poll-max", "0.2", "--settle",
                                 "300ms"} +
        copier());
  drop(box + "/polled.xml", "found by polling");
  ASSERT_TRUE(wait_processed(1)) << describe();
  expect_complete_copies();
}

TEST_F(IngestCli, PermissionDeniedIsJournaledAndSaid) {
  const bool root = ::geteuid() == 0;
  if (root && ::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux) to drop root";
  // As root, lookout runs as nobody (root reads everything); the box belongs to nobody.
  ::chmod(tmp.path().c_str(), 0755);
  drop(box + "/secret.xml", "not for you");
  ::chmod((box + "/secret.xml").c_str(), 0);
  if (root) {
    for (const std::string& p : {box, out, out + "/copies"}) ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0);
  }
  std::vector<std::string> args = std::vector<std::string>{"ingest", "--ready", "--json", box} + copier();
  LookoutProcess::Options po;
  if (root) {
    args.insert(args.begin(), {"--reuid=65534", "--regid=65534", "--clear-groups", LOOKOUT_BINARY});
    po.program = "/usr/bin/setpriv";
  }
  lk = std::make_unique<LookoutProcess>(args, po);
  ASSERT_TRUE(lk->wait_stderr_contains("READY", milliseconds(20000))) << lk->describe();
  ASSERT_TRUE(lk->wait_stderr_contains("cannot read " + box + "/secret.xml: Permission denied", milliseconds(20000)))
      << describe();
  drop(box + "/cookie.xml", "c");
  ASSERT_TRUE(wait_processed(1)) << describe();
  auto all = rows();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].at("status"), "failed");
  EXPECT_EQ(all[0].at("note"), "cannot read it: Permission denied");
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"cookie.xml", 1}}));
}

TEST_F(IngestCli, AHandlerStillRunningAtTheStopTimeoutIsStoppedAndRunsAgainAtTheNextStart) {
  const std::vector<std::string> args = {box, "--stop-timeout", "300ms", "--kill-after", "300ms", "--", "/bin/sh", "-c",
                                         "touch \"$0/started\"; while [ ! -e \"$0/release\" ]; do sleep 0.05; done; "
                                         "printf '%s\\n' \"${1##*/}\" >> \"$0/log\"",
                                         out, "{}"};
  start(args);
  drop(box + "/long.xml", "l");
  ASSERT_TRUE(lk->wait_until([&] { return fs::exists(out + "/started"); }, milliseconds(20000))) << describe();
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(20000)).value_or(-1), 0) << describe();
  auto r = rows();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].at("status"), "pending");
  EXPECT_NE(r[0].at("note").find("interrupted when lookout stopped"), std::string::npos) << r[0].at("note");
  ASSERT_TRUE(write_small_file(out + "/release", ""));
  start(args);
  ASSERT_TRUE(wait_processed(1)) << describe();
  r = rows();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].at("status"), "ok");
  EXPECT_EQ(r[0].at("attempts"), "2");
  EXPECT_EQ(runs(), (std::map<std::string, int>{{"long.xml", 1}}));
}

using HistoryCli = IngestCli;

TEST_F(HistoryCli, FiltersByStatusPathAndTimeAndPrintsATable) {
  start(std::vector<std::string>{box, "-r", "--", "/bin/sh", "-c", "case \"$1\" in *bad*) exit 1;; esac", "sh", "{}"});
  fs::create_directories(box + "/2026");
  drop(box + "/2026/a.xml", "a");
  drop(box + "/2026/bad.xml", "b");
  drop(box + "/c.csv", "c");
  ASSERT_TRUE(wait_processed(3)) << describe();
  auto names = [&](const std::vector<std::string>& extra) {
    std::set<std::string> out_names;
    for (const auto& r : rows(extra)) out_names.insert(fs::path(r.at("path")).filename().string());
    return out_names;
  };
  EXPECT_EQ(names({"--status", "failed"}), (std::set<std::string>{"bad.xml"}));
  EXPECT_EQ(names({"--status", "ok"}), (std::set<std::string>{"a.xml", "c.csv"}));
  EXPECT_EQ(names({"--path", "2026/*"}), (std::set<std::string>{"a.xml", "bad.xml"}));  // relative to DIR
  EXPECT_EQ(names({"--path", box + "/*.csv"}), (std::set<std::string>{"c.csv"}));      // absolute
  EXPECT_EQ(names({"--since", "1h"}).size(), 3u);
  EXPECT_EQ(names({"--since", "2999-01-01"}).size(), 0u);
  EXPECT_EQ(names({"--since", "2000-01-01T00:00:00Z"}).size(), 3u);
  LookoutProcess table({"history", box});  // DIR instead of --journal
  ASSERT_EQ(table.wait_exit(milliseconds(20000)).value_or(-1), 0) << table.err();
  auto lines = std::count(table.out().begin(), table.out().end(), '\n');
  EXPECT_EQ(lines, 4) << table.out();
  EXPECT_NE(table.out().find("STATUS"), std::string::npos);
  EXPECT_NE(table.out().find("2026/bad.xml"), std::string::npos) << table.out();
  LookoutProcess missing({"history", "--journal", journal, "--show", "99"});
  ASSERT_EQ(missing.wait_exit(milliseconds(20000)).value_or(-1), 1);
  EXPECT_NE(missing.err().find("no row with id 99"), std::string::npos) << missing.err();
}

// A small filesystem of its own for the journal (root: mount).
class IngestJournalFaults : public IngestCli {
 protected:
  void SetUp() override {
    IngestCli::SetUp();
    jdir = tmp / "jfs";
    fs::create_directories(jdir);
    if (::mount("lookout-test", jdir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0755") != 0) {
      why = std::string("mount -t tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted = true;
    journal = jdir + "/journal.sqlite";
  }
  void TearDown() override {
    IngestCli::TearDown();
    if (mounted) ::umount2(jdir.c_str(), MNT_DETACH);
  }
  // Every run of the handler has a row: it ran only after its row said `running`.
  void expect_no_run_without_a_row() {
    std::set<std::string> with_rows;
    for (const auto& r : rows()) with_rows.insert(fs::path(r.at("path")).filename().string());
    for (const auto& [name, n] : runs()) EXPECT_TRUE(with_rows.count(name)) << name << " ran without a row";
  }
  std::string jdir, why;
  bool mounted = false;
};

LOOKOUT_TEST_F(IngestJournalFaults, AFullDiskStopsTakingFilesWithAClearError, LABELS(root)) {
  if (!mounted) GTEST_SKIP() << why;
  start(std::vector<std::string>{box, "--journal", journal} + copier());
  drop(box + "/before.xml", "b");
  ASSERT_TRUE(wait_processed(1)) << describe();
  // Fill what is left of the journal's filesystem.
  {
    int fd = ::open((jdir + "/filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    std::string block(65536, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    ::close(fd);
  }
  for (int i = 0; i < 200 && !lk->exited(); ++i) {
    drop(box + "/f" + std::to_string(i) + ".xml", content_for(i, 3000));
    lk->pump(20);
  }
  ASSERT_EQ(lk->wait_exit(milliseconds(30000)).value_or(-1), 1) << describe();
  EXPECT_NE(lk->err().find("journal " + journal), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("full"), std::string::npos) << lk->err();
  EXPECT_NE(lk->err().find("taking no more files"), std::string::npos) << lk->err();
  ::unlink((jdir + "/filler").c_str());
  expect_no_run_without_a_row();
}

LOOKOUT_TEST_F(IngestJournalFaults, AReadOnlyJournalIsRefusedNamingIt, LABELS(root)) {
  if (!mounted) GTEST_SKIP() << why;
  start(std::vector<std::string>{box, "--journal", journal} + copier());
  drop(box + "/before.xml", "b");
  ASSERT_TRUE(wait_processed(1)) << describe();
  lk->signal(SIGTERM);
  ASSERT_EQ(lk->wait_exit(milliseconds(20000)).value_or(-1), 0);
  ASSERT_EQ(::mount(nullptr, jdir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0) << std::strerror(errno);
  drop(box + "/after.xml", "a");
  LookoutProcess again(std::vector<std::string>{"ingest", box, "--journal", journal} + copier());
  ASSERT_EQ(again.wait_exit(milliseconds(20000)).value_or(-1), 1) << again.describe();
  EXPECT_NE(again.err().find(journal), std::string::npos) << again.err();
  EXPECT_NE(again.err().find("read-only"), std::string::npos) << again.err();
  EXPECT_EQ(std::count(again.err().begin(), again.err().end(), '\n'), 1) << again.err();
  EXPECT_EQ(runs().count("after.xml"), 0u);  // nothing ran without a row
  // History still reads it.
  EXPECT_EQ(rows().size(), 1u);
}

// Processes are bounded by -j (ABurstOfAThousandFiles counts them); here 10 000 files at
// start go through the journal (--store: no process per file) with bounded memory.
LOOKOUT_TEST_F(IngestCli, TenThousandFilesAtOnceWithBoundedMemory, LABELS(slow)) {
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(write_small_file(box + "/f" + std::to_string(i), content_for(i, 64)));
  lk = std::make_unique<LookoutProcess>(std::vector<std::string>{"ingest", "--ready", "--json", box, "--store"});
  ASSERT_TRUE(lk->wait_stderr_contains("READY", milliseconds(30000))) << lk->describe();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(write_small_file(box + "/late" + std::to_string(i), "y"));
  ASSERT_TRUE(lk->wait_until([&] { return std::count(lk->out().begin(), lk->out().end(), '\n') >= 10200; },
                             milliseconds(90000)))
      << lk->describe();
#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow memory and quarantine are no measure
  auto status = read_small_file("/proc/" + std::to_string(lk->pid()) + "/status").value_or("");
  auto hwm = status.find("VmHWM:");
  ASSERT_NE(hwm, std::string::npos);
  EXPECT_LT(std::stol(status.substr(hwm + 6)), 100 * 1024) << "kB peak resident";
#endif
  std::set<std::string> paths;
  for (const auto& r : processed()) paths.insert(r.at("path"));
  EXPECT_EQ(paths.size(), 10200u);
}

}  // namespace
}  // namespace lookout::e2e
