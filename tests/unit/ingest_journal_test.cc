// The journal store on real SQLite files in temporary directories: the schema and its
// version, claim -> start -> finish, what a restart finds unfinished, refusing a corrupt,
// foreign or newer file with the reason (and starting over when asked), one writer at a
// time, and a full disk as a clear error naming the file.
#include "store/journal.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ingest/history.h"
#include "support/test_dirs.h"

namespace lookout::store {
namespace {

std::vector<std::string> column(const std::string& db, const std::string& sql, int col = 0) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::vector<std::string> out;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, col);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return out;
}

void run_sql(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(h);
}

class IngestJournal : public ::testing::Test {
 protected:
  std::unique_ptr<Journal> open(OpenOptions o = {}) {
    auto j = Journal::open(path, o);
    EXPECT_TRUE(j) << (j ? "" : j.error().message);
    return j ? std::move(*j) : nullptr;
  }
  lookout::testing::TempDir tmp;
  std::string path = tmp / "box/.lookout/journal.sqlite";
  const Version v1{1, 42, 5, 1700000000123456789};
};

TEST_F(IngestJournal, ANewJournalHasTheDocumentedSchemaVersionAndWal) {
  auto j = open();
  ASSERT_TRUE(j);
  EXPECT_EQ(column(path, "PRAGMA user_version"), std::vector<std::string>{"1"});
  EXPECT_EQ(column(path, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  EXPECT_EQ(column(path, "PRAGMA table_info(ingested)", 1),
            (std::vector<std::string>{"id", "path", "dev", "ino", "size", "mtime_ns", "hash", "first_seen", "started",
                                      "finished", "attempts", "status", "exit_status", "duration_ms", "note",
                                      "stdout_tail", "stderr_tail", "moved_to", "content"}));
}

TEST_F(IngestJournal, ClaimStartFinishAreEachVisibleToAnotherReader) {
  auto j = open();
  auto id = j->claim("/box/a b\n.xml", v1, std::string("0123456789abcdef"), 1700000000000000000);
  ASSERT_TRUE(id);
  EXPECT_EQ(column(path, "SELECT status FROM ingested"), std::vector<std::string>{"pending"});
  ASSERT_TRUE(j->start(*id, 1700000001000000000));
  EXPECT_EQ(column(path, "SELECT status || ' ' || attempts || ' ' || started FROM ingested"),
            std::vector<std::string>{"running 1 2023-11-14T22:13:21.000000Z"});
  auto un = j->unfinished();
  ASSERT_TRUE(un);
  ASSERT_EQ(un->size(), 1u);
  EXPECT_EQ((*un)[0].path, "/box/a b\n.xml");
  EXPECT_EQ((*un)[0].version, v1);
  Outcome o;
  o.ok = true;
  o.exit_status = 0;
  o.duration_ms = 12;
  o.stdout_tail = std::string("out");
  o.moved_to = "/done/a";
  std::string content("hello");
  o.content = &content;
  ASSERT_TRUE(j->finish(*id, 1700000002000000000, o));
  EXPECT_EQ(column(path, "SELECT status || ' ' || exit_status || ' ' || duration_ms || ' ' || moved_to || ' ' || "
                         "finished || ' ' || content FROM ingested"),
            std::vector<std::string>{"ok 0 12 /done/a 2023-11-14T22:13:22.000000Z hello"});
  EXPECT_TRUE(j->unfinished()->empty());
  EXPECT_TRUE(*j->finished("/box/a b\n.xml", v1, "0123456789abcdef"));
  EXPECT_FALSE(*j->finished("/box/a b\n.xml", v1, "fedcba9876543210"));  // same stamps, other bytes
  Version v2 = v1;
  v2.mtime_ns += 1;
  EXPECT_FALSE(*j->finished("/box/a b\n.xml", v2, "0123456789abcdef"));
  auto rows = j->query(Query{"", "", *id, true});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].content.value_or(""), "hello");
}

TEST_F(IngestJournal, ARowLeftRunningIsFoundUnfinishedAfterReopening) {
  {
    auto j = open();
    auto id = j->claim("/box/a", v1, std::string("0123456789abcdef"), 0);
    ASSERT_TRUE(j->start(*id, 0));
    ASSERT_TRUE(j->set_pending(*j->claim("/box/b", v1, std::nullopt, 0), "try 1 failed", 3));
  }  // as after kill -9: nothing more was written
  auto j = open();
  auto un = j->unfinished();
  ASSERT_TRUE(un);
  ASSERT_EQ(un->size(), 2u);
  EXPECT_EQ((*un)[0].status, "running");
  EXPECT_EQ((*un)[1].status, "pending");
  EXPECT_EQ((*un)[1].exit_status.value_or(-1), 3);
  ASSERT_TRUE(j->start((*un)[0].id, 0, "retried after crash"));
  EXPECT_EQ(column(path, "SELECT attempts || ' ' || note FROM ingested WHERE id = 1"),
            std::vector<std::string>{"2 retried after crash"});
}

TEST_F(IngestJournal, ACorruptFileIsRefusedWithTheReasonAndResetStartsOver) {
  open().reset();
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << "this is not a database at all, not even close..................................";
  }
  auto j = Journal::open(path, {});
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find(path), std::string::npos) << j.error().message;
  EXPECT_NE(j.error().message.find("not a database"), std::string::npos) << j.error().message;
  OpenOptions reset;
  reset.reset = true;
  auto again = Journal::open(path, reset);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_NE((*again)->moved_aside().find(".old-"), std::string::npos);
  std::ifstream kept((*again)->moved_aside());
  EXPECT_TRUE(kept.good());  // the old file is kept beside it
}

TEST_F(IngestJournal, AForeignOrNewerDatabaseIsRefused) {
  std::filesystem::create_directories(tmp / "box/.lookout");
  run_sql(path, "CREATE TABLE t (x)");
  auto j = Journal::open(path, {});
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("not a lookout journal"), std::string::npos) << j.error().message;
  std::filesystem::remove(path);
  open().reset();
  run_sql(path, "PRAGMA user_version = 7");
  j = Journal::open(path, {});
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find("schema version 7"), std::string::npos) << j.error().message;
}

TEST_F(IngestJournal, OneWriterAtATimeButReadersAlongside) {
  auto j = open();
  auto second = Journal::open(path, {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another lookout ingest"), std::string::npos) << second.error().message;
  OpenOptions ro;
  ro.read_only = true;
  auto reader = Journal::open(path, ro);
  EXPECT_TRUE(reader) << reader.error().message;
}

TEST_F(IngestJournal, AFullDiskIsAClearErrorNamingTheFile) {
  auto j = open();
  j->limit_pages_for_test(12);
  std::string big(4000, 'x');
  Outcome o;
  o.ok = true;
  o.content = &big;
  Error failed;
  for (int i = 0; i < 200 && failed.message.empty(); ++i) {
    auto id = j->claim("/box/f" + std::to_string(i), v1, std::string("0123456789abcdef"), 0);
    if (!id) {
      failed = id.error();
      break;
    }
    if (auto r = j->finish(*id, 0, o); !r) failed = r.error();
  }
  ASSERT_FALSE(failed.message.empty()) << "the journal never filled up";
  EXPECT_NE(failed.message.find(path), std::string::npos) << failed.message;
  EXPECT_NE(failed.message.find("full"), std::string::npos) << failed.message;
  EXPECT_EQ(failed.sys_errno, ENOSPC);
}

TEST_F(IngestJournal, AMissingJournalIsNamedWhenOnlyReading) {
  OpenOptions ro;
  ro.read_only = true;
  auto j = Journal::open(tmp / "nowhere.sqlite", ro);
  ASSERT_FALSE(j);
  EXPECT_NE(j.error().message.find(tmp / "nowhere.sqlite"), std::string::npos) << j.error().message;
  EXPECT_FALSE(std::filesystem::exists(tmp / "nowhere.sqlite"));
}

TEST(HistorySince, DurationsAndTimesBecomeRfc3339Bounds) {
  const std::int64_t now = 1700000000000000000;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(ingest::since_bound("1h", now).value_or(""), "2023-11-14T21:13:20.000000Z");
  EXPECT_EQ(ingest::since_bound("2023-11-14", now).value_or(""), "2023-11-14T00:00:00.000000Z");
  EXPECT_EQ(ingest::since_bound("2023-11-14T21:00:05Z", now).value_or(""), "2023-11-14T21:00:05.000000Z");
  EXPECT_EQ(ingest::since_bound("2023-11-14 21:00:05.25", now).value_or(""), "2023-11-14T21:00:05.250000Z");
  EXPECT_FALSE(ingest::since_bound("yesterday", now));
  EXPECT_FALSE(ingest::since_bound("2023-11-14T21:00:05+02:00", now));
}

}  // namespace
}  // namespace lookout::store
