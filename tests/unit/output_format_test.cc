#include <gtest/gtest.h>
#include <sys/inotify.h>

#include "sink/inotifywait_format.h"
#include "sink/json_format.h"

namespace lookout::sink {
namespace {

Event ev(EventKind k, const std::string& p, bool dir = false, const std::string& from = {}) {
  Event e;
  e.kind = k;
  e.path = p;
  e.is_dir = dir;
  e.from = from;
  e.seq = 7;
  e.time_ns = 1700000000123456789LL;
  return e;
}

InotifywaitOptions opts() {
  InotifywaitOptions o;
  o.roots = {{"/abs/w", "w"}};
  return o;
}

TEST(InotifywaitFormat, DefaultLinesMatchInotifywait) {
  InotifywaitFormat f(opts());
  std::string out;
  f.format(ev(EventKind::create, "/abs/w/sub/x"), out);
  f.format(ev(EventKind::create, "/abs/w/d", true), out);
  f.format(ev(EventKind::close_write, "/abs/w/x"), out);
  f.format(ev(EventKind::remove, "/abs/w/x"), out);
  EXPECT_EQ(out,
            "w/sub/ CREATE x\n"
            "w/ CREATE,ISDIR d\n"
            "w/ CLOSE_WRITE,CLOSE x\n"
            "w/ DELETE x\n");
}

TEST(InotifywaitFormat, RenameIsTwoLinesAndFiltersApply) {
  auto o = opts();
  InotifywaitFormat f(o);
  std::string out;
  f.format(ev(EventKind::rename, "/abs/w/b", false, "/abs/w/a"), out);
  EXPECT_EQ(out, "w/ MOVED_FROM a\nw/ MOVED_TO b\n");
  o.events = IN_MOVED_TO;
  InotifywaitFormat only_to(o);
  out.clear();
  only_to.format(ev(EventKind::rename, "/abs/w/b", false, "/abs/w/a"), out);
  only_to.format(ev(EventKind::create, "/abs/w/c"), out);
  EXPECT_EQ(out, "w/ MOVED_TO b\n");
}

TEST(InotifywaitFormat, WatchedFileHasNoSlashAndSelfEventsNoIsdir) {
  InotifywaitOptions o;
  o.roots = {{"/abs/f", "f"}, {"/abs/w", "w"}};
  InotifywaitFormat f(o);
  std::string out;
  f.format(ev(EventKind::attrib, "/abs/f"), out);
  f.format(ev(EventKind::delete_self, "/abs/f"), out);
  f.format(ev(EventKind::move_self, "/abs/w/sub", true), out);
  f.format(ev(EventKind::delete_self, "/abs/w", true), out);
  EXPECT_EQ(out, "f ATTRIB \nf DELETE_SELF \nw/sub/ MOVE_SELF \nw/ DELETE_SELF \n");
  o.csv = true;
  InotifywaitFormat csv(o);
  out.clear();
  csv.format(ev(EventKind::attrib, "/abs/f"), out);
  EXPECT_EQ(out, "f,ATTRIB,\n");
}

TEST(InotifywaitFormat, CookieIsSharedByARenamePairOnly) {
  auto o = opts();
  o.format = "%c %e %f";
  InotifywaitFormat f(o);
  std::string out;
  f.format(ev(EventKind::create, "/abs/w/a"), out);
  f.format(ev(EventKind::rename, "/abs/w/b", false, "/abs/w/a"), out);
  Event in = ev(EventKind::create, "/abs/w/c");
  in.reason = "moved_in";
  f.format(in, out);
  Event gone = ev(EventKind::remove, "/abs/w/b");
  gone.reason = "moved_out";
  f.format(gone, out);
  f.format(ev(EventKind::rename, "/abs/w/e", false, "/abs/w/d"), out);
  EXPECT_EQ(out,
            "0 CREATE a\n1 MOVED_FROM a\n1 MOVED_TO b\n2 MOVED_TO c\n3 MOVED_FROM b\n"
            "4 MOVED_FROM d\n4 MOVED_TO e\n");
}

TEST(InotifywaitFormat, FormatCsvAndNul) {
  auto o = opts();
  o.format = "%w%f|%:e|%0";
  o.no_newline = true;
  InotifywaitFormat f(o);
  std::string out;
  f.format(ev(EventKind::close_write, "/abs/w/a b"), out);
  EXPECT_EQ(out, std::string("w/a b|CLOSE_WRITE:CLOSE|\0", 25));
  auto c = opts();
  c.csv = true;
  InotifywaitFormat csv(c);
  out.clear();
  csv.format(ev(EventKind::create, "/abs/w/a,\"b\"", true), out);
  EXPECT_EQ(out, "w/,\"CREATE,ISDIR\",\"a,\"\"b\"\"\"\n");
}

TEST(InotifywaitFormat, EventNames) {
  auto m = parse_inotify_event_names({"create,close", "MOVE"});
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, static_cast<std::uint32_t>(IN_CREATE | IN_CLOSE | IN_MOVE));
  EXPECT_FALSE(parse_inotify_event_names({"bogus"}));
}

TEST(JsonFormat, SchemaAndEscaping) {
  std::string out;
  format_json(ev(EventKind::rename, "/w/new \"q\"\n", false, "/w/old"), out);
  EXPECT_EQ(out,
            "{\"seq\":7,\"time\":\"2023-11-14T22:13:20.123456Z\",\"event\":\"rename\","
            "\"path\":\"/w/new \\\"q\\\"\\n\",\"is_dir\":false,\"from\":\"/w/old\"}");
}

TEST(JsonFormat, StatFieldsOnlyWhenAskedAndKnown) {
  Event e = ev(EventKind::modify, "/w/f");
  std::string plain;
  format_json(e, plain, true);
  EXPECT_EQ(plain.find("\"ino\""), std::string::npos) << "no stat known: no fields";
  e.stat = EntryStat{2049, 131, 5, 1700000000123456789};
  std::string without, with;
  format_json(e, without);
  format_json(e, with, true);
  EXPECT_EQ(without.find("\"ino\""), std::string::npos);
  EXPECT_NE(with.find(",\"dev\":2049,\"ino\":131,\"size\":5,\"mtime_ns\":1700000000123456789}"),
            std::string::npos)
      << with;
}

TEST(JsonFormat, InvalidUtf8GetsBase64) {
  std::string out;
  format_json(ev(EventKind::create, std::string("/w/\xff\xfe", 5)), out);
  EXPECT_NE(out.find("\"path\":\"/w/\xEF\xBF\xBD\xEF\xBF\xBD\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"path_b64\":\"" + base64(std::string("/w/\xff\xfe", 5)) + "\""), std::string::npos);
  EXPECT_EQ(base64("abc"), "YWJj");
  EXPECT_EQ(base64("ab"), "YWI=");
  EXPECT_EQ(base64("a"), "YQ==");
  EXPECT_TRUE(valid_utf8("h\xC3\xA9llo"));
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));  // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));  // surrogate
}

}  // namespace
}  // namespace lookout::sink

namespace lookout::sink {
// UTC from the civil calendar, to the microsecond (truncated), across a leap day and the epoch.
TEST(JsonFormat, Rfc3339IsUtcWithMicroseconds) {
  auto fmt = [](std::int64_t ns) {
    std::string s;
    append_rfc3339(ns, s);
    return s;
  };
  EXPECT_EQ(fmt(1796526132726487900LL), "2026-12-06T03:02:12.726487Z");
  EXPECT_EQ(fmt(951782400000000000LL), "2000-02-29T00:00:00.000000Z");
  EXPECT_EQ(fmt(951868799999999999LL), "2000-02-29T23:59:59.999999Z");
  EXPECT_EQ(fmt(0), "1970-01-01T00:00:00.000000Z");
}
}  // namespace lookout::sink
