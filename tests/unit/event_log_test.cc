#include "core/event_log.h"

#include <gtest/gtest.h>
#include <poll.h>

namespace lookout::core {
namespace {

Event ev(EventKind k, const std::string& p) {
  Event e;
  e.kind = k;
  e.path = p;
  return e;
}

TEST(EventLog, SequencesAndCoalescesIdenticalPendingChanges) {
  EventLog log(100);
  log.append(ev(EventKind::create, "/a"));
  log.append(ev(EventKind::modify, "/a"));
  log.append(ev(EventKind::modify, "/a"));  // merged with the pending modify
  log.append(ev(EventKind::close_write, "/a"));
  log.append(ev(EventKind::modify, "/a"));  // not merged: a close_write came in between
  std::vector<Event> out;
  ASSERT_TRUE(log.take(out, 0));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].seq, 1u);
  EXPECT_EQ(out[3].seq, 4u);
  EXPECT_EQ(out[3].kind, EventKind::modify);
  EXPECT_EQ(log.coalesced(), 1u);
  // Once taken, a new modify is a new event.
  log.append(ev(EventKind::modify, "/a"));
  out.clear();
  ASSERT_TRUE(log.take(out, 0));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, 5u);
}

TEST(EventLog, PausesAtTheBoundAndSignalsResume) {
  EventLog log(3);
  for (int i = 0; i < 3; ++i) log.append(ev(EventKind::create, "/f" + std::to_string(i)));
  EXPECT_TRUE(log.over_limit());
  pollfd p{log.resume_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  std::vector<Event> out;
  ASSERT_TRUE(log.take(out, 0));
  EXPECT_FALSE(log.over_limit());
  EXPECT_EQ(::poll(&p, 1, 0), 1);
  log.clear_resume();
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST(EventLog, CloseEndsTheConsumer) {
  EventLog log(10);
  log.append(ev(EventKind::create, "/x"));
  log.close();
  std::vector<Event> out;
  EXPECT_TRUE(log.take(out, -1));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_FALSE(log.take(out, -1));
}

}  // namespace
}  // namespace lookout::core
