#include "backend/poll_tracker.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "backend/poll_scanner.h"

namespace lookout::backend {

using core::kNoNode;
using core::NodeId;

namespace {
std::int64_t process_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}
std::int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
// How long this thread has waited for a CPU while runnable (schedstat's run_delay, ns -> us;
// 0 where the kernel keeps no schedstats). A pass's elapsed time minus this is its own cost:
// what it waited for the disk or the server counts, what it waited behind other programs on a
// busy machine does not (that stretched a 2,000-file tree's interval past a second).
std::int64_t run_delay_us() {
  const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[96];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long on_cpu = 0, waited = 0;
  if (std::sscanf(buf, "%llu %llu", &on_cpu, &waited) != 2) return 0;
  return static_cast<std::int64_t>(waited / 1000);
}
}  // namespace

int full_pass_interval_ms(std::int64_t cost_us, int min_ms) {
  const double ms = static_cast<double>(cost_us) / 1000.0 / kFullPassBudget;
  return static_cast<int>(std::clamp<double>(ms, std::max(min_ms, 1), std::max(min_ms, kFullPassMaxIntervalMs)));
}

bool PollTracker::start(NodeId dir, const Error* why, PollHost& host) {
  if (!polled_.insert(dir).second) return false;
  interval_ms_ = opt_.min_ms;
  if (next_ms_ == 0) next_ms_ = host.now_ms() + interval_ms_;
  if (why && !warned_watch_limit_) {
    warned_watch_limit_ = true;
    Error w = *why;
    w.message += "; polling " + host.model().path(dir) +
                 " and any other directory past the limit instead (every " +
                 std::to_string(opt_.max_ms) + " ms at most)";
    host.warn(w);
  }
  return true;
}

bool PollTracker::covers(const core::TreeModel& model, NodeId dir) const {
  if (polled_.empty()) return false;
  for (NodeId cur = dir; cur != kNoNode && cur != core::kTopNode; cur = model.node(cur).parent) {
    if (polled_.count(cur)) return true;
  }
  return false;
}

void PollTracker::pass(bool full, PollHost& host) {
  ++counters_.passes;
  const std::int64_t began_us = steady_us();
  const std::int64_t began_cpu_us = process_cpu_us();
  const bool timed = full && opt_.full_every_ms <= 0;  // the budget needs the pass's cost
  const std::int64_t began_delay_us = timed ? run_delay_us() : 0;
  core::TreeModel& model = host.model();
  bool changed = false;
  std::vector<NodeId> tops;
  for (NodeId d : polled_) {
    // Nested polled directories are covered by their polled ancestor's pass.
    NodeId parent = model.valid(d) ? model.node(d).parent : kNoNode;
    if (model.valid(d) && !(parent != kNoNode && parent != core::kTopNode && covers(model, parent))) {
      tops.push_back(d);
    }
  }
  for (NodeId d : tops) {
    if (!model.valid(d)) continue;
    if (model.is_root(d) && !model.node(d).is_dir()) {
      changed |= poll_file_root(d, host);
      continue;
    }
    // A subtree polled because of the watch limit goes back to inotify once a watch fits:
    // watched (and new entries reported) first, then diffed once more in full below, so
    // what changed since the last pass (deletions, writes) is reported too.
    bool back_to_inotify = false;
    if (!model.is_root(d) && host.rewatch(d)) {
      changed = true;
      back_to_inotify = true;
    }
    std::string path = model.path(d);
    core::TreeModel fresh;
    PollScan scan;
    bool ok = poll_scan(model, d, fresh, path, full || back_to_inotify, host.exclusion(),
                        [this, &host](const Error& e) {
                          // A directory that stays unreadable is read (and fails) at every
                          // pass: say so once, not every two seconds.
                          if (warned_.size() < 4096 && warned_.insert(e.message).second) host.warn(e);
                        },
                        scan, 0, opt_.recursive, host.fs());
    counters_.stats += scan.cost.stats;
    if (!ok) {
      if (model.is_root(d)) host.root_gone(d, "deleted");
      continue;  // a non-root vanished: its parent's watch or pass reports it
    }
    if (model.is_root(d) && root_gone(d, scan.root_st, host)) continue;
    if (!model.is_root(d) && mount_gone(d, scan.root_st, host)) {
      changed = true;
      continue;
    }
    NodeId root = model.root_of(d);
    core::DiffSink sink;
    sink.unstat_since_ns = host.unstat_since_ns();
    sink.event = [&host, root, &changed](EventKind k, const std::string& p, const std::string& from,
                                         bool is_dir) {
      changed = true;
      host.report_path(k, p, from, is_dir, root);
    };
    // Back under inotify: a directory new since the catch-up enters the model empty and is
    // listed after its watch is added (as after an overflow's rescan).
    std::vector<NodeId> new_dirs;
    if (back_to_inotify) {
      sink.dir_added = [&new_dirs](NodeId id) { new_dirs.push_back(id); };
      sink.shallow_new_dirs = true;
    }
    // Diffs only the subtree the scan found changed; a quiet pass diffs (and hashes) nothing.
    if (scan.changed() && scan.live_dir != kNoNode) host.hash(scan.live_dir, fresh, scan.fresh_dir);
    reconcile_poll(model, d, fresh, scan, sink);
    for (NodeId n : new_dirs) {
      if (model.valid(n) && !host.watched(n) && !covers(model, n)) host.catch_up(n);
    }
  }
  host.end_of_pass();
  // Adaptive interval: quick again after a change, backing off while the tree is quiet.
  interval_ms_ = changed ? opt_.min_ms : std::min(opt_.max_ms, std::max(opt_.min_ms, interval_ms_ * 2));
  std::int64_t now = host.now_ms();
  if (full) {
    last_full_ms_ = now;
    if (timed) {
      const std::int64_t own_us = steady_us() - began_us - (run_delay_us() - began_delay_us);
      const std::int64_t cost_us = std::max(own_us, process_cpu_us() - began_cpu_us);
      full_costs_.add(cost_us);
      full_interval_ms_ = full_pass_interval_ms(full_costs_.cheapest(), opt_.min_ms);
    }
  }
  // The next pass: the adaptive one, or sooner when a full pass falls due before it (a quiet
  // small tree is fully polled every full_interval_ms_, not at the next 2 s pass after it).
  next_ms_ = now + interval_ms_;
  if (!opt_.always_full) next_ms_ = std::min(next_ms_, last_full_ms_ + full_interval_ms_);
}

bool PollTracker::poll_file_root(NodeId root, PollHost& host) {
  core::TreeModel& model = host.model();
  std::string path = model.path(root);
  sys::FileStat st;
  const sys::FileStat had = model.stat(root);
  // Another object under the name (an atomic save renamed over it) means the watched file
  // is gone, as inotify's DELETE_SELF says for the inode it watched.
  if (host.fs().stat_follow(path.c_str(), st) != 0 || st.type != had.type || st.ino != had.ino ||
      st.dev != had.dev || (sys::births_comparable(st, had) && st.birth != had.birth)) {
    host.root_gone(root, "deleted or replaced");
    return true;
  }
  EventKind kind;
  if (st.size != had.size || st.mtime_ns != had.mtime_ns) {
    kind = EventKind::modify;
  } else if (st.ctime_ns != had.ctime_ns || st.mode != had.mode) {
    kind = EventKind::attrib;
  } else {
    return false;
  }
  model.set_stat(root, st);
  host.report(kind, root);
  return true;
}

bool PollTracker::root_gone(NodeId root, const sys::FileStat& now, PollHost& host) {
  // Polling has no IN_DELETE_SELF or IN_UNMOUNT: a pass finds out from the root's stat.
  core::TreeModel& model = host.model();
  const sys::FileStat was = model.stat(root);
  if (was.type != sys::FileType::dir) return false;
  if (now.dev != was.dev) {
    // Its filesystem was unmounted (the directory underneath is uncovered) or another was
    // mounted over it: the tree watched is gone, as inotify says with IN_UNMOUNT.
    host.report(EventKind::unmount, root);
    host.root_gone(root, "unmounted");
    return true;
  }
  // ext4 may give the new directory the old one's inode number at once: the birth stamp
  // tells them apart (see docs/design.md, Identity).
  const bool reborn = sys::births_comparable(was, now) && was.birth != now.birth;
  if (now.type != sys::FileType::dir || now.ino != was.ino || reborn) {
    // Deleted, and something else made at its path (`rm -rf r && touch r`): inotify's
    // watch would have said IN_DELETE_SELF. What was inside goes first, deepest first.
    for (NodeId n : model.subtree_post_order(root)) {
      if (n != root) host.report(EventKind::remove, n);
    }
    host.root_gone(root, "deleted");
    return true;
  }
  return false;
}

bool PollTracker::mount_gone(NodeId dir, const sys::FileStat& now, PollHost& host) {
  // A polled mount inside the tree (NFS, FUSE, /proc under /) unmounted: no IN_UNMOUNT comes,
  // since it had no watch. Reported as inotify reports a watched submount's: `unmount`, its
  // tree deleted, and the directory underneath created and watched as the parent is.
  core::TreeModel& model = host.model();
  const core::Node& n = model.node(dir);
  if (!n.is_dir() || now.dev == model.stat(dir).dev || !host.at_mount_boundary(dir)) return false;
  NodeId parent = n.parent;
  std::string name(model.name(dir));
  host.report(EventKind::unmount, dir);
  for (NodeId c : model.subtree_post_order(dir)) host.report(EventKind::remove, c);
  model.remove(dir);  // and from polled_, through the model's remove hook
  host.appeared(parent, name);
  return true;
}

}  // namespace lookout::backend
