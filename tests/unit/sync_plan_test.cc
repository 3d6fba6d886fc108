// `lookout sync`'s pure parts: what a TARGET means, the rsync command lines, what rsync's
// --stats say, a target's queue and backoff, and what a batch of changes means for a mirror.
#include <gtest/gtest.h>

#include <algorithm>

#include "sync/batch_paths.h"
#include "sync/reach_probe.h"
#include "sync/remote_move.h"
#include "sync/rsync_command.h"
#include "sync/target_queue.h"
#include "sync/target_spec.h"

namespace lookout::sync {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(SyncTarget, KindsAsRsyncReadsThem) {
  auto d = parse_target("rsync://user@host:8730/mod/sub");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, TargetKind::rsync_daemon);
  EXPECT_EQ(d->destination, "rsync://user@host:8730/mod/sub/");
  EXPECT_EQ(target_host(*d), "host:8730");
  auto s = parse_target("deploy@web1:/srv/www");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, TargetKind::ssh);
  EXPECT_EQ(target_host(*s), "web1");
  auto l = parse_target("/srv/mirror");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, TargetKind::local);
  EXPECT_EQ(l->destination, "/srv/mirror/");
  // A colon after a slash is part of a local name.
  auto odd = parse_target("/srv/a:b");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->kind, TargetKind::local);
  EXPECT_FALSE(parse_target("rsync://host"));
  EXPECT_FALSE(parse_target("rsync://host/"));
  EXPECT_FALSE(parse_target(""));
  EXPECT_FALSE(parse_target("host:"));
}

TEST(SyncRsyncCommand, IncrementalPassesReadANulListAndDeleteWhatIsGone) {
  RsyncCommand c;
  c.source = "/src";
  c.excludes = {"*.tmp"};
  c.timeout_ms = 120000;
  TargetSpec t = *parse_target("rsync://u@h/m");
  t.password_file = "/etc/pw";
  auto a = rsync_argv(c, t, PassKind::incremental);
  EXPECT_TRUE(has(a, "--from0") && has(a, "--files-from=-") && has(a, "--ignore-times"));
  EXPECT_TRUE(has(a, "--delete-missing-args") && has(a, "--force"));
  EXPECT_TRUE(has(a, "--password-file=/etc/pw") && has(a, "--exclude=*.tmp") && has(a, "--timeout=120"));
  EXPECT_FALSE(has(a, "--delete"));
  // SOURCE and the target come after "--", as the last two words.
  ASSERT_GE(a.size(), 3u);
  EXPECT_EQ(a[a.size() - 3], "--");
  EXPECT_EQ(a[a.size() - 2], "/src/");
  EXPECT_EQ(a.back(), "rsync://u@h/m/");
  auto quick = rsync_argv(c, t, PassKind::incremental, false, /*quick_check=*/true);
  EXPECT_FALSE(has(quick, "--ignore-times"));
  EXPECT_TRUE(has(quick, "--modify-window=-1")) << "whole seconds would miss a rewrite within the second";
  c.delete_extraneous = false;
  auto keep = rsync_argv(c, t, PassKind::incremental);
  EXPECT_FALSE(has(keep, "--delete-missing-args"));
  EXPECT_TRUE(has(keep, "--ignore-missing-args"));
}

TEST(SyncRsyncCommand, FullPassesDeleteAndVerifyMayCompareContents) {
  RsyncCommand c;
  c.source = "/src";
  TargetSpec t = *parse_target("web1:/srv");
  t.ssh_command = "ssh -p 2222";
  auto a = rsync_argv(c, t, PassKind::full);
  EXPECT_TRUE(has(a, "--delete") && !has(a, "--files-from=-") && !has(a, "--checksum"));
  EXPECT_TRUE(has(a, "-e") && has(a, "ssh -p 2222"));
  EXPECT_TRUE(has(rsync_argv(c, t, PassKind::verify, /*checksum=*/true), "--checksum"));
  EXPECT_EQ(files_from_list({"a b", "-n\nl"}), std::string("a b\0-n\nl\0", 9));
}

TEST(SyncRsyncCommand, StatsVersionAndExitCodes) {
  const char* out =
      "Number of files: 1,205 (reg: 1,000, dir: 205)\nNumber of created files: 3\n"
      "Number of deleted files: 2 (reg: 1, dir: 1)\nNumber of regular files transferred: 1,002\n"
      "Total bytes sent: 12,345,678\nTotal bytes received: 35\n";
  RsyncStats s = parse_rsync_stats(out);
  EXPECT_EQ(s.files, 1002u);
  EXPECT_EQ(s.deleted, 2u);
  EXPECT_EQ(s.bytes, 12345678u);
  EXPECT_EQ(parse_rsync_stats("").files, 0u);
  auto v = parse_rsync_version("rsync  version 3.2.7  protocol version 31\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<int>{3, 2, 7}));
  EXPECT_TRUE(rsync_version_ok(*v));
  EXPECT_FALSE(rsync_version_ok(*parse_rsync_version("rsync version 3.0.9 protocol version 30")));
  EXPECT_FALSE(parse_rsync_version("not rsync"));
  EXPECT_TRUE(rsync_succeeded(0));
  EXPECT_TRUE(rsync_succeeded(24));
  EXPECT_FALSE(rsync_succeeded(23));
  EXPECT_NE(describe_rsync_exit(5).find("password"), std::string::npos);
}

TEST(SyncTargetQueue, FailuresBackOffAndKeepThePathsSuccessConfirmsThem) {
  TargetQueue q(8000);
  q.add("a");
  q.add("b");
  ASSERT_TRUE(q.ready(0));
  TargetJob j = q.take();
  EXPECT_EQ(j.kind, PassKind::incremental);
  EXPECT_EQ(j.paths, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(q.ready(0)) << "one transfer at a time";
  q.add("c");  // while in flight
  EXPECT_TRUE(q.finish(false, 0).empty());
  EXPECT_EQ(q.health(), TargetHealth::retrying);
  EXPECT_EQ(q.pending(), 3u);
  EXPECT_FALSE(q.ready(999));
  EXPECT_TRUE(q.ready(1000));
  std::int64_t now = 1000;
  // 1 s, 2 s, 4 s, 8 s, 8 s: capped at retry_max.
  for (std::int64_t expect : {2000, 4000, 8000, 8000}) {
    q.take();
    q.finish(false, now);
    EXPECT_EQ(q.next_try_ms() - now, expect);
    now = q.next_try_ms();
  }
  EXPECT_EQ(q.health(), TargetHealth::down);
  j = q.take();
  EXPECT_EQ(j.paths, (std::vector<std::string>{"a", "b", "c"}));
  q.add("b");  // changed again while being sent: stays pending, not confirmed
  auto confirmed = q.finish(true, now);
  EXPECT_EQ(confirmed, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(q.health(), TargetHealth::up);
  EXPECT_EQ(q.unconfirmed(), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(q.ready(now)) << "success resets the backoff";
}

// A directory rename replayed on an ssh target goes first; if the replay fails, its content
// is sent instead, and the target's health and backoff are not touched (rsync will tell).
TEST(SyncTargetQueue, MovesGoFirstAndTheirContentIsSentWhenTheReplayFails) {
  TargetQueue q(8000);
  q.add("new");
  q.add_move(DirMove{"old", "new", {"new/f", "new/g"}});
  EXPECT_EQ(q.pending(), 4u);
  EXPECT_TRUE(has(q.unconfirmed(), "new/f"));
  TargetJob j = q.take();
  ASSERT_EQ(j.kind, PassKind::move);
  ASSERT_EQ(j.moves.size(), 1u);
  EXPECT_EQ(j.moves[0].from, "old");
  EXPECT_TRUE(q.finish(false, 0).empty());
  EXPECT_EQ(q.health(), TargetHealth::starting) << "a failed replay is not a failed target";
  EXPECT_TRUE(q.ready(0)) << "no backoff";
  j = q.take();
  EXPECT_EQ(j.kind, PassKind::incremental);
  EXPECT_EQ(j.paths, (std::vector<std::string>{"new", "new/f", "new/g"}));
  q.finish(true, 0);
  // Replayed: the content is confirmed by the move itself, unless it changed meanwhile.
  q.add_move(DirMove{"a", "b", {"b/x", "b/y"}});
  j = q.take();
  q.add("b/y");
  EXPECT_EQ(q.finish(true, 0), (std::vector<std::string>{"b/x"}));
  EXPECT_EQ(q.unconfirmed(), (std::vector<std::string>{"b/y"}));
  // A full pass pending sends everything: the move is not replayed.
  q.take();
  q.finish(true, 0);
  q.add_move(DirMove{"c", "d", {"d/z"}});
  q.add_full();
  j = q.take();
  EXPECT_EQ(j.kind, PassKind::full);
}

TEST(SyncRemoteMove, NamesGoOnStdinAndTheCommandLineIsFixed) {
  TargetSpec t;
  t.kind = TargetKind::ssh;
  t.destination = "deploy@web1:/srv/it's here/";
  t.ssh_command = "ssh -p 2222 -i /k";
  auto argv = remote_move_argv(t);
  ASSERT_EQ(argv.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(argv.begin(), argv.begin() + 5),
            (std::vector<std::string>{"ssh", "-p", "2222", "-i", "/k"}));
  EXPECT_EQ(argv[5], "deploy@web1");
  EXPECT_EQ(argv[6].rfind("cd -- '/srv/it'\\''s here' && xargs -0 -n 2 sh -c '", 0), 0u) << argv[6];
  EXPECT_EQ(remote_move_input({DirMove{"-a\nb", "c d", {}}}), std::string("-a\nb\0c d\0", 9));
  t.kind = TargetKind::local;
  EXPECT_TRUE(remote_move_argv(t).empty());
  EXPECT_EQ(shell_word("a'b"), "'a'\\''b'");
}

TEST(SyncTargetQueue, AFullPassCoversWhatIsPendingAndQuickCheckOnlyWhenAllMay) {
  TargetQueue q(60000);
  q.add("x", /*quick_check=*/true);
  q.add("y", /*quick_check=*/true);
  TargetJob j = q.take();
  EXPECT_TRUE(j.quick_check);
  q.finish(true, 0);
  q.add("x", true);
  q.add("y", false);
  EXPECT_FALSE(q.take().quick_check);
  q.finish(true, 0);
  q.add("p");
  q.add_full(/*verify=*/true, /*checksum=*/true);
  j = q.take();
  EXPECT_EQ(j.kind, PassKind::verify);
  EXPECT_TRUE(j.checksum);
  EXPECT_EQ(q.unconfirmed(), (std::vector<std::string>{"", "p"}));
  q.abandon();  // stopping: the pass is pending again
  EXPECT_TRUE(q.has_work());
  EXPECT_EQ(q.take().kind, PassKind::verify);
  EXPECT_EQ(q.finish(true, 0), (std::vector<std::string>{"", "p"}));
  EXPECT_FALSE(q.has_work());
}

TEST(SyncReachProbe, NumericAddressesAndPortsAsRsyncAndSshUseThem) {
  auto d = probe_address(*parse_target("rsync://u@127.0.0.1:8730/m"));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "127.0.0.1");
  EXPECT_EQ(d->port, 8730);
  EXPECT_EQ(probe_address(*parse_target("rsync://10.0.0.5/m"))->port, 873);
  auto v6 = probe_address(*parse_target("rsync://[::1]:9000/m"));
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  TargetSpec s = *parse_target("root@127.0.0.1:/srv");
  EXPECT_EQ(probe_address(s)->port, 22);
  s.ssh_command = "ssh -p 2222 -i key";
  EXPECT_EQ(probe_address(s)->port, 2222);
  s.ssh_command = "ssh -p2200";
  EXPECT_EQ(probe_address(s)->port, 2200);
  EXPECT_FALSE(probe_address(*parse_target("rsync://mirror.example.org/m"))) << "no DNS lookup in the loop";
  EXPECT_FALSE(probe_address(*parse_target("/srv/local")));
}

Event ev(EventKind k, std::string path, std::string from = "", bool dir = false) {
  Event e;
  e.kind = k;
  e.path = std::move(path);
  e.from = std::move(from);
  e.is_dir = dir;
  return e;
}

TEST(SyncBatchPaths, RenamesDeleteTheOldPathAndBringADirectorysContent) {
  std::vector<std::string> listed;
  ListUnder list = [&](const std::string& rel) {
    listed.push_back(rel);
    return std::vector<std::string>{rel + "/f", rel + "/g"};
  };
  BatchPaths bp = batch_paths({ev(EventKind::create, "/s/new"), ev(EventKind::remove, "/s/old"),
                               ev(EventKind::rename, "/s/d2", "/s/d1", true), ev(EventKind::rename, "/s/in", "/elsewhere/x"),
                               ev(EventKind::modify, "/other/z"), ev(EventKind::close_write, "/s/new")},
                              "/s", list);
  EXPECT_FALSE(bp.full);
  EXPECT_EQ(bp.paths, (std::vector<std::string>{"d1", "d2", "in", "new", "old"}));
  EXPECT_EQ(listed, (std::vector<std::string>{"d2"}));
  ASSERT_EQ(bp.moves.size(), 1u);
  EXPECT_EQ(bp.moves[0].from, "d1");
  EXPECT_EQ(bp.moves[0].to, "d2");
  EXPECT_EQ(bp.moves[0].content, (std::vector<std::string>{"d2/f", "d2/g"}));
  EXPECT_TRUE(batch_paths({ev(EventKind::rescan, "/s")}, "/s", list).full);
  EXPECT_FALSE(batch_paths({ev(EventKind::rescan, "/s/sub")}, "/s", list).full) << "its differences follow as events";
}

}  // namespace
}  // namespace lookout::sync
