// tail's pure parts: the line splitter's offset bookkeeping (complete lines, held partial
// lines, max-line splits, what may be committed), the identity rules (truncation, inode
// reuse, copy names), output encoding (text, JSON with line_b64, NUL), PATH selection with
// '**' globs, and the offsets store on real SQLite files (commit, reload, refusing a corrupt
// or foreign file, one writer, a full disk).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "sink/json_format.h"
#include "store/tail_state.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"
#include "tail/identity.h"
#include "tail/line_splitter.h"
#include "tail/path_select.h"
#include "tail/record_format.h"

namespace lookout::tail {
namespace {

std::vector<Piece> feed(LineSplitter& s, std::string_view b) {
  std::vector<Piece> out;
  s.feed(b, out);
  return out;
}

TEST(TailSplitter, CompleteLinesCarryTheirOffsets) {
  LineSplitter s(0, 100);
  auto p = feed(s, "one\ntwo\r\nthree");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].text, "one");
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(p[1].text, "two\r");  // a CR stays in the text
  EXPECT_EQ(p[1].offset, 4u);
  EXPECT_EQ(s.emitted(), 9u);  // "three" is held, not committed
  EXPECT_EQ(s.read_pos(), 14u);
  p = feed(s, "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "three");
  EXPECT_FALSE(p[0].continued);
  EXPECT_EQ(s.emitted(), 15u);
}

TEST(TailSplitter, StartsAtAnOffset) {
  LineSplitter s(1000, 100);
  auto p = feed(s, "x\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].offset, 1000u);
  EXPECT_EQ(s.emitted(), 1002u);
}

TEST(TailSplitter, FlushedPartialIsMarkedAndItsRestContinued) {
  LineSplitter s(0, 100);
  EXPECT_TRUE(feed(s, "abc").empty());
  std::vector<Piece> p;
  EXPECT_TRUE(s.flush_partial(p));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "abc");
  EXPECT_TRUE(p[0].partial);
  EXPECT_EQ(s.emitted(), 3u);
  EXPECT_TRUE(s.continued());
  EXPECT_FALSE(s.flush_partial(p));  // never twice
  auto q = feed(s, "def\nnext\n");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].text, "def");
  EXPECT_TRUE(q[0].continued);
  EXPECT_EQ(q[0].offset, 3u);
  EXPECT_FALSE(q[1].continued);
}

TEST(TailSplitter, LongLinesAreSplitNeverDropped) {
  LineSplitter s(0, 4);
  auto p = feed(s, "abcdefghij\n");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].text, "abcd");
  EXPECT_TRUE(p[0].split);
  EXPECT_EQ(p[1].text, "efgh");
  EXPECT_TRUE(p[1].split);
  EXPECT_TRUE(p[1].continued);
  EXPECT_EQ(p[2].text, "ij");
  EXPECT_TRUE(p[2].continued);
  EXPECT_FALSE(p[2].split);
  EXPECT_EQ(s.emitted(), 11u);
  std::string joined;
  for (auto& x : p) joined += x.text;
  EXPECT_EQ(joined, "abcdefghij");
}

TEST(TailSplitter, ALineOfExactlyMaxLineIsNotSplit) {
  LineSplitter s(0, 4);
  auto p = feed(s, "abcd");
  EXPECT_TRUE(p.empty());
  p = feed(s, "\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "abcd");
  EXPECT_FALSE(p[0].split);
}

TEST(TailSplitter, ByteAtATimeGivesTheSameLines) {
  const char raw[] = "a\n\nbb\x00z\n\xff\xfe\n";
  const std::string data(raw, sizeof raw - 1);
  LineSplitter whole(0, 100), bytes(0, 100);
  auto w = feed(whole, data);
  std::vector<Piece> b;
  for (char c : data) bytes.feed(std::string_view(&c, 1), b);
  ASSERT_EQ(w.size(), b.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].text, b[i].text);
    EXPECT_EQ(w[i].offset, b[i].offset);
  }
  EXPECT_EQ(whole.emitted(), data.size());
}

TEST(TailIdentity, Decisions) {
  const Fingerprint fp = fingerprint_of("hello\n");
  EXPECT_EQ(decide({6, fp}, {100, fp}), Verdict::same);
  EXPECT_EQ(decide({6, fp}, {3, fingerprint_of("hel")}), Verdict::truncated);
  EXPECT_EQ(decide({6, fp}, {100, fingerprint_of("other\n")}), Verdict::replaced);  // inode reuse
  EXPECT_EQ(decide({0, {}}, {0, {}}), Verdict::same);  // an empty file: nothing to compare
  EXPECT_EQ(decide({10, fingerprint_of("0123456789")}, {4, fingerprint_of("0123")}),
            Verdict::truncated);
}

TEST(TailIdentity, TinyFilesHaveTinyFingerprints) {
  EXPECT_EQ(fingerprint_of("x").length, 1u);
  EXPECT_NE(fingerprint_of("x").hash, fingerprint_of("y").hash);
  EXPECT_EQ(fingerprint_of("").length, 0u);
}

TEST(TailIdentity, CopyNames) {
  EXPECT_TRUE(is_copy_name("app.log", "app.log.1"));
  EXPECT_TRUE(is_copy_name("app.log", "app.log-20261206"));
  EXPECT_TRUE(is_copy_name("app.log", "app.log.1.gz"));
  EXPECT_FALSE(is_copy_name("app.log", "app.log"));
  EXPECT_FALSE(is_copy_name("app.log", "app.log."));
  EXPECT_FALSE(is_copy_name("app.log.1", "app.log"));
  EXPECT_FALSE(is_copy_name("f1.log", "f10.log"));
  EXPECT_FALSE(is_copy_name("app", "application"));
}

LineContext ctx(std::string_view path) { return LineContext{path, 42, 1, 2, 0}; }

TEST(TailFormat, TextWithAndWithoutName) {
  Piece p;
  p.text = "hello";
  std::string out;
  append_line(Format{}, ctx("/l/a b.log"), p, out);
  EXPECT_EQ(out, "/l/a b.log:hello\n");
  out.clear();
  append_line(Format{OutputFormat::text, false, '\0'}, ctx("/l/a"), p, out);
  EXPECT_EQ(out, std::string("hello\0", 6));
}

TEST(TailFormat, JsonValidAndInvalidUtf8) {
  Piece p;
  p.text = std::string("a\"\x00z", 4);
  p.offset = 7;
  p.partial = true;
  std::string out;
  append_line(Format{OutputFormat::json, true, '\n'}, ctx("/l/x"), p, out);
  EXPECT_EQ(
      out,
      "{\"path\":\"/l/x\",\"line\":\"a\\\"\\u0000z\",\"offset\":7,\"size\":42,\"dev\":1,\"ino\":2,"
      "\"time\":\"1970-01-01T00:00:00.000000Z\",\"partial\":true}\n");
  out.clear();
  p.text = "\xff\xfe";
  p.partial = false;
  p.continued = true;
  append_line(Format{OutputFormat::json, true, '\n'}, ctx("/l/\xff"), p, out);
  EXPECT_NE(out.find("\"line_b64\":\"" + sink::base64("\xff\xfe") + "\""), std::string::npos)
      << out;
  EXPECT_EQ(out.find("\"line\":"), std::string::npos) << out;
  EXPECT_NE(out.find("\"path_b64\":"), std::string::npos) << out;
  EXPECT_NE(out.find("\"continued\":true"), std::string::npos) << out;
}

TEST(TailFormat, ControlRecordsOnlyInJson) {
  std::string out;
  append_truncated(Format{}, "/l/a", 10, 0, 3, 0, out);
  EXPECT_TRUE(out.empty());
  append_truncated(Format{OutputFormat::json, true, '\n'}, "/l/a", 10, 0, 3, 0, out);
  EXPECT_NE(out.find("\"event\":\"truncated\""), std::string::npos);
  EXPECT_NE(out.find("\"unread\":3"), std::string::npos);
  out.clear();
  append_closed_deleted(Format{OutputFormat::json, true, '\n'}, "/l/a", 5, 0, out);
  EXPECT_NE(out.find("{\"event\":\"closed_deleted\",\"path\":\"/l/a\",\"offset\":5"),
            std::string::npos)
      << out;
}

TEST(TailSelect, GlobsWithDoubleStar) {
  EXPECT_TRUE(glob_match("/l/**/*.log", "/l/a.log"));
  EXPECT_TRUE(glob_match("/l/**/*.log", "/l/x/y/a.log"));
  EXPECT_FALSE(glob_match("/l/**/*.log", "/l/x/a.txt"));
  EXPECT_FALSE(glob_match("/l/*.log", "/l/x/a.log"));
  EXPECT_TRUE(glob_match("/l/*/app.log", "/l/x/app.log"));
  EXPECT_FALSE(glob_match("/l/*/app.log", "/l/app.log"));
}

TEST(TailSelect, DirectoriesFilesAndMatch) {
  testing::TempDir t;
  testing::make_dirs(t / "logs/app");
  testing::write_file(t / "one.log", "");
  auto s = PathSelect::make({t / "logs", t / "one.log"}, {"*.log"}, {"skip*"});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->selected(t / "logs/app/x.log"));
  EXPECT_FALSE(s->selected(t / "logs/app/x.txt"));
  EXPECT_FALSE(s->selected(t / "logs/skip.log"));
  EXPECT_TRUE(s->selected(t / "one.log"));
  EXPECT_FALSE(s->selected(t / "two.log"));
  EXPECT_TRUE(s->recursive());
  auto missing = PathSelect::make({t / "nope/x.log"}, {}, {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(t / "nope/x.log"), std::string::npos)
      << missing.error().message;
}

}  // namespace
}  // namespace lookout::tail

namespace lookout::store {
namespace {

TEST(TailStateStore, CommitsAndReloads) {
  testing::TempDir t;
  const std::string f = t / "state.sqlite";
  {
    auto s = TailState::open(f, "/logs", false);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_TRUE((*s)->fresh());
    TailFile a{1, 2, "/logs/a", 100, 10, 77, true};
    ASSERT_TRUE((*s)->commit({a}, {}));
    ASSERT_TRUE((*s)->commit({TailFile{1, 3, std::string("/logs/\xff\n", 8), 5, 5, 5, false}}, {}));
    ASSERT_TRUE((*s)->commit({}, {{1, 3}}));
  }
  auto s = TailState::open(f, "/logs", false);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE((*s)->fresh());
  auto rows = (*s)->load();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].offset, 100u);
  EXPECT_EQ((*rows)[0].fp_hash, 77u);
  EXPECT_TRUE((*rows)[0].continued);
}

TEST(TailStateStore, RefusesOtherPathsCorruptAndSecondWriter) {
  testing::TempDir t;
  const std::string f = t / "state.sqlite";
  {
    auto s = TailState::open(f, "/logs", false);
    ASSERT_TRUE(s);
    auto second = TailState::open(f, "/logs", false);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("another lookout tail"), std::string::npos)
        << second.error().message;
  }
  auto other = TailState::open(f, "/elsewhere", false);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("other PATHs"), std::string::npos) << other.error().message;
  auto reset = TailState::open(f, "/elsewhere", true);
  ASSERT_TRUE(reset) << reset.error().message;
  EXPECT_FALSE((*reset)->moved_aside().empty());
  reset->reset();
  const std::string junk = t / "junk";
  {
    std::ofstream(junk)
        << "this is not a database, not at all, no sqlite header here......................";
  }
  auto bad = TailState::open(junk, "/logs", false);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find(junk), std::string::npos) << bad.error().message;
}

TEST(TailStateStore, DiskFullIsAClearError) {
  testing::TempDir t;
  const std::string f = t / "state.sqlite";
  auto s = TailState::open(f, "/logs", false);
  ASSERT_TRUE(s);
  (*s)->limit_pages_for_test(3);
  std::vector<TailFile> many;
  for (std::uint64_t i = 0; i < 2000; ++i)
    many.push_back({1, i, "/logs/file-" + std::to_string(i), i, 0, 0, false});
  auto r = (*s)->commit(many, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().sys_errno, ENOSPC) << r.error().message;
  EXPECT_NE(r.error().message.find(f), std::string::npos);
}

}  // namespace
}  // namespace lookout::store

namespace lookout::tail {
namespace {

TEST(TailSplitter, TakeCompleteGivesTheSameBytesAndOffsets) {
  LineSplitter s(10, 1 << 20);
  std::string_view b = "a\nbb\nccc";
  std::uint64_t lines = 0;
  EXPECT_EQ(s.take_complete(b, lines), "a\nbb\n");
  EXPECT_EQ(lines, 2u);
  EXPECT_EQ(s.emitted(), 15u);
  EXPECT_EQ(b, "ccc");
  std::vector<Piece> p;
  s.feed(b, p);
  EXPECT_TRUE(p.empty());
  std::string_view more = "\nd\n";
  EXPECT_EQ(s.take_complete(more, lines), "");  // something is held: the slow path finishes it
  s.feed(more, p);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].text, "ccc");
  EXPECT_EQ(p[0].offset, 15u);
  LineSplitter small(0, 4);
  std::string_view longer = "abcdefgh\n";
  EXPECT_EQ(small.take_complete(longer, lines), "");  // could hold a line past max_line
}

}  // namespace
}  // namespace lookout::tail
