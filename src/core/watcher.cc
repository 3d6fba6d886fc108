// The watcher's loop: start-up crawl, the step() iteration, rescans and emission.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

#include "core/content_scan.h"
#include "core/fs_kind.h"
#include "core/state_file.h"
#include "core/tree_diff.h"
#include "core/tree_scanner.h"
#include "core/watcher_impl.h"
#include "sys/path_text.h"
#include "sys/proc_limits.h"

namespace lookout {

using core::kNoNode;
using core::NodeId;

namespace {
// Paths in events are as the user named the root, made absolute ("./" dropped).
std::string make_absolute(sys::Fs& fs, const std::string& p) {
  if (!p.empty() && p[0] == '/') return sys::absolute_path("", p);
  std::string cwd;
  if (fs.current_dir(cwd) != 0) return p;
  return sys::absolute_path(cwd, p);
}

// True once request_stop() has written stop_fd. poll(), not read(): the count stays for
// step(). Checked between slices of the start-up crawl, which runs before the loop does.
bool stop_pending(sys::Waiter& waiter, int stop_fd) {
  pollfd p{stop_fd, POLLIN, 0};
  return waiter.poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

// Reports of directory reads (open, access, close_nowrite of a directory) need the engine's
// own listings told apart: its filesystem calls then go through OwnDirReads.
std::unique_ptr<core::OwnDirReads> own_reads_for(const WatchOptions& o, sys::Fs& fs,
                                                 sys::Clock& clock) {
  constexpr EventMask kReads = event_bit(EventKind::open) | event_bit(EventKind::access) |
                               event_bit(EventKind::close_nowrite);
  if (!(o.events & kReads)) return nullptr;
  return std::make_unique<core::OwnDirReads>(fs, clock);
}
}  // namespace

Watcher::Impl::Impl(WatchOptions o, core::WatcherSeams seams)
    : clock(seams.clock ? seams.clock : &sys::system_clock()),
      own_reads(own_reads_for(o, seams.fs ? *seams.fs : sys::real_fs(), *clock)),
      fs(own_reads ? own_reads.get() : seams.fs ? seams.fs : &sys::real_fs()),
      waiter(seams.waiter ? seams.waiter : &sys::real_waiter()),
      fs_thread_safe(seams.fs == nullptr),
      may_use_fanotify(seams.may_use_fanotify ? std::move(seams.may_use_fanotify)
                                              : std::function<bool()>(sys::has_cap_sys_admin)),
      opt(std::move(o)),
      shared_log(std::make_shared<core::EventLog>()),
      log(*shared_log),
      stop_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      inotify(std::make_unique<core::InotifyTranslator>(
          *this, model, opt, *fs, seams.inotify ? *seams.inotify : sys::real_inotify_calls(),
          *waiter)),
      fanotify(std::make_unique<core::FanotifyTranslator>(*this, model, opt, *fs,
                                                          std::move(seams.fanotify))),
      poll_host(make_poll_host()),
      poll_tracker(make_poll_tracker()),
      poller(backend::PollOptions{opt.poll_min_ms, opt.poll_max_ms, opt.poll_full_every_ms,
                                  opt.poll_full, opt.recursive}) {
  if (opt.primary_consumer) {
    // Every kind: the engine's own mask (opt.events) already decides what is reported.
    SubscribeOptions so;
    so.events = ~EventMask{0};
    so.max_behind = opt.max_pending;
    primary = log.add_reader(so, /*hold_loop=*/true);
    primary_sub = std::make_unique<Subscription>(shared_log, primary);
  }
  inotify->set_own_reads(own_reads.get());
  // An O_PATH open the kernel reports would be a directory read nobody made, for every
  // watcher of the tree: then entries are statted by path only.
  dir_fds.set_enabled(fs->path_opens_silent());
  model.set_remove_hook([this](NodeId id, const core::Node&) {
    // Node ids are reused: nothing may keep naming a removed node.
    blind.erase(id);
    starved.erase(id);
    // Also a node a rename replaced, which vanished() never saw: with deferred write stats
    // most written files are marked stale, and a new node on the id would inherit the mark.
    if (!writes_told_stale.empty()) writes_told_stale.erase(id);
    if (!replaced_maybe.empty()) replaced_maybe.erase(id);
    if (!unstatted.empty()) unstatted.erase(id);
    dir_fds.forget(id);
    backend::Tracker* const all[] = {poll_tracker.get(), fanotify.get(), inotify.get()};
    for (backend::Tracker* t : all) t->unwatch(id);
  });
}

std::unique_ptr<Watcher> Watcher::Impl::create_with(WatchOptions o, core::WatcherSeams seams) {
  return std::unique_ptr<Watcher>(new Watcher(std::make_unique<Impl>(std::move(o), seams)));
}

bool Watcher::Impl::excluded(const std::string& path) const {
  if (!filter || filter->empty()) return false;
  // The root is needed for glob matching on relative paths.
  NodeId r = kNoNode;
  model.for_each_child(core::kTopNode, [&](NodeId c) {
    const std::string_view rp = model.name(c);
    if (path.compare(0, rp.size(), rp) == 0) r = c;
  });
  return filter->excluded(path, r == kNoNode ? std::string_view{} : model.name(r));
}

std::function<bool(const std::string&, bool)> Watcher::Impl::exclusion() {
  if (!filter || filter->empty()) return {};
  return [this](const std::string& p, bool) { return excluded(p); };
}

void Watcher::Impl::emit_path(EventKind kind, const std::string& path, const std::string& from,
                              bool is_dir, NodeId root, const char* reason, const sys::FileStat* st) {
  if (!(opt.events & event_bit(kind))) return;
  append_event(kind, std::string(path), from, is_dir, root, reason, st);
}

void Watcher::Impl::append_event(EventKind kind, std::string&& path, const std::string& from,
                                 bool is_dir, NodeId root, const char* reason,
                                 const sys::FileStat* st) {
  if (filter && !filter->empty() && kind != EventKind::rescan) {
    std::string_view rp = root != kNoNode ? model.name(root) : std::string_view{};
    if (!filter->reportable(path, rp) && (from.empty() || !filter->reportable(from, rp))) return;
  }
  Event e;
  e.kind = kind;
  e.time_ns = realtime_ns();
  e.is_dir = is_dir;
  e.path = std::move(path);
  if (kind == EventKind::rename) e.from = from;
  e.reason = kind == EventKind::rescan ? from : std::string(reason);
  if (st && kind != EventKind::rescan && kind != EventKind::backend && kind != EventKind::unmount) {
    e.stat = EntryStat{st->dev, st->ino, st->size, st->mtime_ns};
  }
  log.append(std::move(e));
}

void Watcher::Impl::emit(EventKind kind, NodeId id, const std::string& from, const char* reason) {
  if (!(opt.events & event_bit(kind))) return;  // before the path is built
  // A write whose stat was deferred (or whose path did not resolve): the model's stamps are
  // from before it, and an event carries its entry's stat after the change or none.
  const std::optional<sys::FileStat> st =
      stat_is_stale(id, kind) ? std::nullopt : model.known_stat(id);
  append_event(kind, model.path(id), from, model.node(id).is_dir(), model.root_of(id), reason,
               st ? &*st : nullptr);
}

void Watcher::Impl::emit_found(EventKind kind, const std::string& path, const std::string& from,
                               bool is_dir, NodeId root, const char* reason) {
  NodeId id = kind == EventKind::rescan ? kNoNode : model.find_path(path);
  const std::optional<sys::FileStat> st = id != kNoNode ? model.known_stat(id) : std::nullopt;
  emit_path(kind, path, from, is_dir, root, reason, st ? &*st : nullptr);
}

void Watcher::Impl::end(Error e) {
  if (ended) return;
  ended = true;
  end_error = std::move(e);
  if (opt.on_diagnostic) opt.on_diagnostic(end_error, true);
}

core::ScanHooks Watcher::Impl::scan_hooks(bool report) {
  core::ScanHooks hooks;
  hooks.enter_dir = [this](NodeId d, const std::string& path) {
    if (ended) return false;
    // Without -r a directory root's own entries are listed (so changes to files that were
    // there before start are reported, as inotifywait does), but nothing below them.
    if (!listable(d)) return false;
    if (under_polled(d)) return true;  // listed into the model, found by polling
    // The live kernel tracker watches it (or hands a mount to polling); only inotify fails.
    backend::Tracker* kernel = kernel_tracker();
    if (!kernel) return true;  // polling only: every directory is under a polled root
    auto r = kernel->watch(d, path);
    if (!r) {
      const Error& e = r.error();
      if (e.code == ErrorCode::watch_limit && opt.backend != BackendChoice::inotify) {
        start_polling(d, &e);  // the rest of this subtree is polled instead of lost
        announce(d, "poll", "the inotify watch limit was reached");
        return true;
      }
      if (e.code == ErrorCode::watch_limit || e.code == ErrorCode::instance_limit) {
        end(e);
        return false;
      }
      if (e.sys_errno == ENOENT || e.sys_errno == ENOTDIR) {
        blind.insert(d);  // gone, or renamed with the event still queued: retry later
        return false;
      }
      if (e.sys_errno == ENOMEM) {
        note_starved(d, e.sys_errno);  // the kernel may have memory for it later
        return false;
      }
      warn(e);
      return false;
    }
    return true;
  };
  if (report) {
    hooks.added = [this](NodeId id) {
      emit(EventKind::create, id, {}, listing_reason);
      note_link_arrival(id);
    };
  }
  hooks.excluded = exclusion();
  hooks.error = [this](const Error& e) { warn(e); };
  hooks.unlisted = [this](NodeId d) {
    blind.insert(d);
    fanotify->unlisted(d);  // see settle_crawl()
  };
  hooks.starved = [this](NodeId d, int err) { note_starved(d, err); };
  hooks.stat_files = [this](NodeId d) { return !defer_file_stats || under_polled(d); };
  hooks.listed = [this, report](NodeId d, int fd) {
    if (fanotify->live()) fanotify->listed(d, fd, report);
  };
  return hooks;
}

void Watcher::Impl::note_starved(NodeId dir, int err) {
  if (starved.empty()) {
    starved_backoff_ms = 50;
    next_starved_retry_ms = now_ms() + starved_backoff_ms;
  }
  starved.insert(dir);
  if (warned_starved) return;
  warned_starved = true;
  // Said once: with the fd table full, every directory met would fail the same way.
  std::string path = model.path(dir);
  Error e = error_from_errno(err, "cannot list", path);
  e.limit = sys::fd_limit_of(err);
  e.message += " (" + sys::describe_fd_shortage(err) +
               "); retrying it and any other directory that fails so until it can be listed, "
               "then reporting what it holds as created";
  warn(e);
}

void Watcher::Impl::retry_starved() {
  if (starved.empty() || ended) return;
  std::vector<NodeId> ids(starved.begin(), starved.end());
  starved.clear();
  // Parents first: a parent's listing reaches the starved directories below it.
  auto depth = [this](NodeId id) {
    int d = 0;
    for (NodeId cur = id; model.valid(cur) && cur != core::kTopNode; cur = model.node(cur).parent) ++d;
    return d;
  };
  std::sort(ids.begin(), ids.end(), [&](NodeId a, NodeId b) { return depth(a) < depth(b); });
  for (NodeId d : ids) {
    if (!model.valid(d) || !model.node(d).is_dir()) continue;
    if (fanotify->live() && crawl && !fanotify->in_step(d)) {
      crawl->begin(d);  // fanotify: a crawl's directory goes back to the crawl
    } else {
      catch_up(d, true);  // failing again puts it back in `starved`
    }
  }
  if (!starved.empty()) {
    starved_backoff_ms = std::min(2000, starved_backoff_ms * 2);
    next_starved_retry_ms = now_ms() + starved_backoff_ms;
  }
}

void Watcher::Impl::catch_up(NodeId dir, bool report) {
  core::TreeScanner(model, scan_hooks(report), *fs).scan(dir);
}

Result<void> Watcher::Impl::start() {
  fanotify->set_self_pid(::getpid());
  if (opt.backend == BackendChoice::fanotify) {
    if (auto r = fanotify->open(); !r) return r.error();
  } else if (opt.backend != BackendChoice::poll) {
    if (auto r = inotify->open(); !r) return r.error();
  }
  auto fr = core::PathFilter::create(core::FilterSpec{opt.exclude_regex, opt.exclude_regex_icase,
                                                      opt.include_regex, opt.include_regex_icase,
                                                      opt.exclude_globs, opt.exclude_paths});
  if (!fr) return fr.error();
  filter = *fr;
  if (opt.paths.empty()) {
    return Error{ErrorCode::invalid_argument, 0, "", "no path to watch was given"};
  }
  // Files need a stat only for diffs (polling, state files, rescans), and a rescan can tell
  // from their stamps whether they changed since this crawl: list them without one. Polling,
  // a state file and --checksum compare stamps from the start, so they keep them.
  defer_file_stats = opt.backend != BackendChoice::poll && opt.state_file.empty() && !opt.checksum;
  defer_write_stats = !opt.stat_writes && opt.state_file.empty() && !opt.checksum;
  // Filesystems stamp with the coarse clock, which may lag the fine one by a tick: start
  // earlier than now so a change made during the crawl is never judged older than it.
  started_ns = clock->coarse_realtime_ns() - 20000000;
  if (defer_file_stats) unstat_since_ns = started_ns;
  for (const auto& p : opt.paths) {
    std::string abs = make_absolute(*fs, p);
    sys::FileStat st;
    // stat (not lstat) for roots: a symlinked root is watched through its link, unless the
    // link itself is asked for (-P), which watch_dir then watches with IN_DONT_FOLLOW.
    int err = opt.follow_root_symlinks ? fs->stat_follow(abs.c_str(), st)
                                       : fs->stat_at(AT_FDCWD, abs.c_str(), st);
    if (err != 0) {
      return error_from_errno(err, "cannot watch", abs,
                              err == ENOENT   ? "check the path"
                              : err == EACCES ? "no permission; run as a user who can read it"
                                              : "");
    }
    if (st.type == sys::FileType::dir && opt.backend == BackendChoice::poll) {
      // inotify refuses an unreadable root (EACCES from inotify_add_watch); polling would
      // go on, reading nothing, for ever. Refuse it the same way.
      const int opened = fs->open_dir(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      sys::FsFd probe(*fs, opened);
      if (opened == -EACCES || opened == -EPERM) {
        return error_from_errno(-opened, "cannot watch", abs,
                                "no permission; run as a user who can read it");
      }
    }
    NodeId root = model.add_root(abs, st);
    if (opt.backend == BackendChoice::poll) {
      start_polling(root, nullptr);
      announce(root, "poll", "asked for", Cause::poll_asked);
    } else if (fanotify->live()) {
      if (auto r = fanotify->mark_root(root); !r) return r.error();
    }
    // Without -r too: the root's own entries enter the model (scan_hooks lists no deeper).
    const bool crawl_root = st.type == sys::FileType::dir;
    if (fanotify->live()) {
      // The mark is live: ready now, the model fills in from the loop (continue_crawl),
      // unless a mount below needs polling (only a listing before ready can baseline it).
      if (crawl_root) {
        if (!crawl) crawl.emplace(model, scan_hooks(false), *fs);
        crawl->begin(root);
        if (!fanotify->mark_submounts(root)) {
          finish_crawl();
        } else if (crawl->run(kFanotifyMinDirs)) {
          // The first kFanotifyMinDirs directories before ready, as auto mode lists them
          // before it switches: a tree that small is then whole at ready (tens of
          // milliseconds), with none of the crawl's races, which put a change made at once in
          // an unlisted directory that moves again before its record is read at the wrong
          // path. A larger tree keeps its fast ready. The root is always listed first, so
          // every directory still unlisted when an overflow comes has a listed parent and
          // settle_crawl() can report it away and back.
          crawl.reset();
        } else {
          fanotify->crawl_continues();
        }
      }
    } else if (crawl_root) {
      crawl.emplace(model, scan_hooks(false), *fs);
      crawl->begin(root);
      // inotify: a large tree is listed by other threads while this one adds the watches
      // and fills the model (see TreeScanner::set_threads). Only over the real filesystem
      // (thread-safe; the seams' fakes are not) and when no listing needs its fd.
      auto use_threads = [&] {
        if (inotify->live() && fs_thread_safe) crawl->set_threads(core::TreeScanner::listing_threads());
      };
      // Lists up to max_dirs directories; nullopt when a stop was requested meanwhile
      // (SIGINT while crawling must not wait for the crawl's end): checked every few dozen.
      auto check_stop = [&] { return stop_pending(*waiter, stop_fd.get()); };
      auto crawl_some = [&](std::size_t max_dirs) -> std::optional<bool> {
        if (crawl->run(max_dirs, check_stop)) return true;
        if (check_stop()) return std::nullopt;
        return false;
      };
      const Error interrupted{ErrorCode::interrupted, EINTR, abs,
                              "interrupted while setting up watches on " + abs};
      // A tree that proves large enough is handed to a fanotify mark (if allowed) so that
      // the rest needs no watch: count directories while crawling, no separate pass.
      bool try_fanotify = opt.backend == BackendChoice::auto_select && opt.recursive &&
                          may_use_fanotify() && !under_polled(root);
      // Not for the first kFanotifyMinDirs of a tree that may go to fanotify: starting the
      // threads for those cost more CPU than they saved (measured: ready 0.100 s instead of
      // 0.085 s at 50k directories on 2 busy cores).
      if (!try_fanotify) use_threads();
      auto listed = crawl_some(try_fanotify ? kFanotifyMinDirs : SIZE_MAX);
      if (!listed) return interrupted;
      if (!*listed && !(try_fanotify && switch_to_fanotify(root) && fanotify->mark_submounts(root))) {
        use_threads();  // staying on inotify (no-op if the mark went on but a submount failed)
        if (!crawl_some(SIZE_MAX)) return interrupted;
      }
      if (!fanotify->live()) crawl.reset();  // finished; with a mark the rest fills in after ready
      if (ended) return end_error;
      if (!fanotify->live() && !inotify->watched(root) && !under_polled(root)) {
        return Error{ErrorCode::permission_denied, EACCES, abs,
                     "cannot watch " + abs + ": the directory could not be watched"};
      }
    } else if (!under_polled(root)) {
      if (auto r = inotify->watch_dir(root, abs); !r) return r.error();
    }
  }
  if (opt.checksum) {
    finish_crawl();  // every file is hashed once at start: the model must be whole
    hasher = std::make_unique<sys::ContentHasher>();
    for (NodeId root : model.children(core::kTopNode)) hash_contents(nullptr, kNoNode, model, root);
  }
  if (!crawl) {
    defer_file_stats = false;
    release_crawl_memory();
  }
  started = true;
  poller.full_pass_done_at(now_ms());
  next_reconcile_ms = now_ms() + opt.reconcile_every_ms;
  if (!opt.state_file.empty()) {
    finish_crawl();  // the diff needs the whole tree
    report_since_last_run();
    next_state_save_ms = now_ms() + opt.state_save_every_ms;
  }
  // Subscriptions made before start that asked for the existing entries get them now, at
  // ready, before any later event: the stream of one that waited for the loop's first step
  // began after the changes made meanwhile, which it then never saw.
  service_due = true;
  serve_readers();
  dir_fds.clear();  // nothing held while quiet: an fd pins its mount
  publish_stats();
  return {};
}

void Watcher::Impl::hash_contents(const core::TreeModel* live, NodeId live_dir,
                                  core::TreeModel& fresh, NodeId fresh_dir) {
  if (!hasher) return;
  std::uint64_t bytes_before = hasher->bytes_read();
  auto cost = core::hash_contents(live, live_dir, fresh, fresh_dir, *hasher, *fs, [this](const Error& e) {
    if (warned_unreadable) return;
    warned_unreadable = true;
    Error w = e;
    if (!w.message.empty() && w.message.back() == ')') w.message.pop_back();
    w.message += "; further unreadable files are skipped without a warning)";
    warn(w);
  });
  stats.hashed_files += cost.files_read;
  stats.hashed_bytes += hasher->bytes_read() - bytes_before;
}

void Watcher::Impl::report_since_last_run() {
  std::vector<std::string> roots;
  for (NodeId r : model.children(core::kTopNode)) roots.emplace_back(model.name(r));
  core::TreeModel previous;
  auto loaded = core::load_state(previous, opt.state_file, roots);
  if (!loaded) {
    // Guessing would be worse than saying we do not know: a fresh start.
    warn(loaded.error());
    emit_path(EventKind::rescan, "", "fresh", false, kNoNode);
    return;
  }
  // Diff the saved model (as the old tree) against the crawl just made (the new one); the
  // saved copy is what the diff rewrites, the live model stays as crawled.
  for (NodeId old_root : previous.children(core::kTopNode)) {
    NodeId now_root = model.find(core::kTopNode, previous.name(old_root));
    if (now_root == kNoNode) continue;
    core::DiffSink sink;
    sink.event = [this, now_root](EventKind k, const std::string& p, const std::string& from,
                                  bool is_dir) { emit_found(k, p, from, is_dir, now_root, "since_last_run"); };
    core::reconcile(previous, old_root, model, now_root, sink);
  }
}

Result<void> Watcher::Impl::save_state_now() {
  if (opt.state_file.empty()) return {};
  finish_crawl();  // a half-filled model would read as deletions next time
  next_state_save_ms = now_ms() + opt.state_save_every_ms;
  const std::uint64_t at = log.position();
  auto r = core::save_state(model, opt.state_file);
  if (r) saved_at_position = at;
  return r;
}

bool Watcher::Impl::consumer_durable() const {
  return !opt.durable_through || opt.durable_through() >= log.position();
}

void Watcher::Impl::retry_blind(NodeId under) {
  if (!unstatted.empty()) restat_unstatted();
  if (!replaced_maybe.empty()) recheck_replaced();
  if (blind.empty() || !opt.recursive || ended) return;
  std::vector<NodeId> ids;
  for (auto it = blind.begin(); it != blind.end();) {
    if (under == kNoNode || (model.valid(*it) && model.is_ancestor(under, *it))) {
      ids.push_back(*it);
      it = blind.erase(it);
    } else {
      ++it;
    }
  }
  // Parents first: a parent's listing watches and lists the blind directories below it.
  auto depth = [this](NodeId id) {
    int d = 0;
    for (NodeId cur = id; model.valid(cur) && cur != core::kTopNode; cur = model.node(cur).parent) ++d;
    return d;
  };
  std::sort(ids.begin(), ids.end(), [&](NodeId a, NodeId b) { return depth(a) < depth(b); });
  for (NodeId d : ids) {
    if (!model.valid(d) || !model.node(d).is_dir() || under_polled(d)) continue;
    if (fanotify->live() && crawl && !fanotify->in_step(d)) {
      crawl->begin(d);  // fanotify: a crawl's directory goes back to the crawl (its handle())
    } else {
      restat(d);
      catch_up(d, true);
    }
  }
}

bool Watcher::Impl::at_mount_boundary(NodeId dir) const {
  if (model.is_root(dir)) return true;
  NodeId parent = model.node(dir).parent;
  return model.stat(dir).dev != model.stat(parent).dev;
}

void Watcher::Impl::keep_unreadable(core::TreeModel& fresh,
                                    const std::vector<std::pair<NodeId, int>>& dirs) {
  // A directory a rescan could not read (chmod 000 as a plain user, no fd left) still holds
  // what it held: give the fresh scan the model's entries there, or the diff would report
  // them all deleted. Its watch still reports what changes; a shortage is retried as usual.
  for (auto [fd_dir, err] : dirs) {
    if (!fresh.valid(fd_dir)) continue;
    NodeId live = model.find_path(fresh.path(fd_dir));
    if (live == kNoNode || !model.node(live).is_dir()) continue;
    std::vector<std::pair<NodeId, NodeId>> stack{{live, fd_dir}};
    while (!stack.empty()) {
      auto [l, f] = stack.back();
      stack.pop_back();
      model.for_each_child(l, [&](NodeId lc) {
        const core::Node& n = model.node(lc);
        NodeId fc = fresh.add(f, model.name(lc), model.stat(lc), model.stat_known(lc));
        if (n.is_dir()) stack.emplace_back(lc, fc);
      });
    }
    if (err == EMFILE || err == ENFILE || err == ENOMEM) note_starved(live, err);
  }
}

void Watcher::Impl::schedule_rescan(const char* reason) {
  if (rescan_pending) return;  // coalesce: one rescan covers every overflow until it runs
  rescan_pending = true;
  rescan_reason = reason;
  std::int64_t now = now_ms();
  // Overflows arriving soon after the last rescan mean a storm: back off exponentially so a
  // sustained storm cannot keep the loop rescanning (watchman#1354).
  if (now - last_rescan_end_ms < std::max(1000, 2 * backoff_ms)) {
    backoff_ms = std::clamp(backoff_ms == 0 ? 50 : backoff_ms * 2, opt.rescan_backoff_min_ms,
                            opt.rescan_backoff_max_ms);
  } else {
    backoff_ms = opt.rescan_backoff_min_ms;
  }
  rescan_due_ms = now + backoff_ms;
}

void Watcher::Impl::settle_crawl(const std::function<void()>& before_first_report) {
  // fanotify: ready comes before the crawl, which lists each directory as it is when it gets
  // there. That agrees with what the consumer has (the tree at ready plus the events since)
  // only if no event was lost: a change made after ready to a directory not yet listed,
  // whose record an overflow dropped, is in the model (listed silently) and never reported.
  // Diffing cannot find it either, the model holds no older listing. So: finish the crawl,
  // then every directory listed after ready whose mtime or ctime was already past ready
  // when listed (or that could not be listed at all) is reported removed and dropped from
  // the model, and the diff that follows reports it created with everything it holds now.
  // Directories unchanged since ready when listed hold what the consumer has; the root was
  // listed before ready. The consumer ends with the real tree, re-reading only what changed.
  finish_crawl();
  fanotify->drop_suspects(before_first_report);
}

void Watcher::Impl::rescan(const std::string& reason) {
  rescan_pending = false;
  dir_fds.clear();  // lost events may have moved or replaced any directory
  ++stats.rescans;
  // A reconciliation pass is a backstop that normally finds nothing: it says `rescan` only
  // when it found a difference, just before the first one.
  const bool backstop = reason == "reconcile";
  bool announced = false;
  std::size_t differences = 0;
  auto announce_rescan = [&] {
    if (announced) return;
    announced = true;
    emit_path(EventKind::rescan, "", reason, false, kNoNode);
  };
  if (!backstop) announce_rescan();
  // A half-filled model (fanotify's crawl) cannot be diffed as it is: settle it first.
  settle_crawl(announce_rescan);
  fanotify->forget_renames();
  // Events still queued describe changes the scan below may already include; the model
  // absorbs them idempotently.
  for (NodeId root : model.children(core::kTopNode)) {
    if (!model.valid(root) || !model.node(root).is_dir()) continue;
    std::string root_path(model.name(root));
    core::TreeModel fresh;
    std::vector<std::pair<NodeId, int>> unreadable;
    auto r = core::scan_fresh(fresh, root_path, exclusion(), [this](const Error& e) { warn(e); },
                              &unreadable, opt.recursive, *fs);
    if (!r) {
      root_gone(root, "deleted");
      continue;
    }
    NodeId fresh_root = fresh.find(core::kTopNode, root_path);
    keep_unreadable(fresh, unreadable);
    hash_contents(&model, root, fresh, fresh_root);
    std::vector<NodeId> new_dirs;
    core::DiffSink sink;
    sink.unstat_since_ns = unstat_since_ns;
    sink.event = [&, root](EventKind k, const std::string& path, const std::string& from,
                           bool is_dir) {
      announce_rescan();
      ++differences;
      emit_found(k, path, from, is_dir, root);
    };
    sink.dir_added = [&new_dirs](NodeId id) { new_dirs.push_back(id); };
    // The scan is already stale for directories that had no watch during it (new ones, and
    // an old directory found at a new place under a new parent, whose node and watch the
    // diff drops): what vanished from them since would never be reported. They enter the
    // model empty and are listed below, after their watch is added.
    sink.shallow_new_dirs = true;
    core::reconcile(model, root, fresh, fresh_root, sink);
    // Watch the new directories now and list them: everything inside is reported as created.
    for (NodeId d : new_dirs) {
      if (model.valid(d) && !inotify->watched(d)) catch_up(d, true);
    }
    // Any directory still without a watch (its catch-up met ENOENT, its wd went to another
    // path, it was known only from an event whose stat failed) would stay blind: fix all.
    if (inotify->live() && opt.recursive) {
      std::vector<NodeId> blind;
      for (NodeId id : model.subtree_post_order(root)) {
        const core::Node& n = model.node(id);
        if (n.is_dir() && !inotify->watched(id) && !under_polled(id)) blind.push_back(id);
      }
      if (!blind.empty()) announce_rescan();
      for (auto it = blind.rbegin(); it != blind.rend(); ++it) {  // parents first
        if (model.valid(*it) && !inotify->watched(*it)) catch_up(*it, true);
      }
    }
  }
  if (backstop && differences > 0) {
    ++stats.reconcile_differences;
    warn(Error{ErrorCode::ok, 0, "",
               "reconciliation pass found " + std::to_string(differences) +
                   " change(s) the kernel did not report; they were reported now"});
  }
  echo_link_changes();  // files its catch-ups found with other names (note_link_arrival)
  last_rescan_end_ms = now_ms();
}

bool Watcher::Impl::step(int timeout_ms) {
  if (ended || stop_requested) return false;
  // No fd of dir_fds outlives the step, whichever way it ends: an O_PATH fd pins its mount
  // (umount says EBUSY), and between steps the loop may wait for as long as the tree is quiet.
  struct ReleaseDirFds {
    core::DirFdCache& fds;
    ~ReleaseDirFds() { fds.clear(); }
  } release_dir_fds{dir_fds};
  std::int64_t now = now_ms();
  // Wake no later than the next timed duty (a backed-off rescan, a poll, a reconcile pass).
  auto due_at = [&](std::int64_t when_ms) {
    std::int64_t wait = std::max<std::int64_t>(0, when_ms - now);
    if (timeout_ms < 0 || wait < timeout_ms) timeout_ms = static_cast<int>(wait);
  };
  if (rescan_pending) due_at(rescan_due_ms);
  for (const backend::Tracker* t : trackers()) {
    if (t && t->due_ms() != backend::Tracker::kNever) due_at(t->due_ms());
  }
  if (!starved.empty()) due_at(next_starved_retry_ms);
  if (opt.reconcile_every_ms > 0) due_at(next_reconcile_ms);
  if (!deferred_write_stats.empty()) due_at(deferred_write_stats.front().due_ms);
  if (crawl) timeout_ms = 0;  // the model is still filling in: read what is there, go on
  bool reading = !log.over_limit();
  backend::Tracker* kernel = kernel_tracker();
  int second = reading ? (kernel ? kernel->fd() : -1) : log.resume_fd();
  const int notice = kernel ? kernel->notice_fd() : -1;
  if (service_due) timeout_ms = 0;
  pollfd fds[4] = {{stop_fd.get(), POLLIN, 0},
                   {second, POLLIN, 0},
                   {log.service_fd(), POLLIN, 0},
                   {notice, POLLPRI, 0}};
  int n = waiter->poll(fds, notice >= 0 ? 4 : 3, timeout_ms);
  if (n < 0 && errno != EINTR) {
    end(error_from_errno(errno, "poll", ""));
    return false;
  }
  if (fds[0].revents & POLLIN) {
    stop_requested = true;
    return false;
  }
  core::EventLog::WakeBatch wake_batch(log);  // consumers are woken per 256 events, not per event
  bool got_all = false;
  if (!reading) {
    if (fds[1].revents & POLLIN) log.clear_resume();
  } else if (fds[1].revents & POLLIN) {
    // A busy queue is read in larger gulps: 1 ms of batching costs ~0.5 us/event instead of
    // 2-5 us when waking for every few events (docs/kernel-facts.md#inotify-read-batching), and latency
    // stays ~1 ms.
    if (busy) waiter->sleep_ms(1);
    const std::int64_t read_ms = now_ms();
    Result<std::size_t> got = kernel ? kernel->drain(16384) : std::size_t{0};
    if (!got) {
      end(got.error());
      return false;
    }
    // Or a stream: 32 records or more within 2 ms, however they were read. A loop that keeps
    // up with a writer otherwise wakes for each record (a fanotify burst with a slow reader:
    // 24,000 one-record reads, a poll and a context switch each, 11 us apart); a lone change,
    // or a save's few records, is still read at once.
    if (read_ms - stream_since_ms > 1) {
      stream_since_ms = read_ms;
      stream_records = 0;
    }
    stream_records += *got;
    busy = *got > 256 || stream_records >= 32;
    got_all = *got < 16384;
    if (log.over_limit()) {
      ++stats.paused;
      if (kernel) kernel->read_ahead();
    }
  }
  const bool caught_up = reading && (!(fds[1].revents & POLLIN) || got_all);
  if (kernel) kernel->after_read(caught_up);
  // Slices small enough that events keep flowing while a large tree is being filled in.
  if (crawl && !ended && !log.over_limit()) continue_crawl(256);
  if (notice >= 0 && (fds[3].revents & (POLLPRI | POLLERR))) kernel->on_notice();
  if (fds[2].revents & POLLIN) service_due = true;
  if (!starved.empty() && now_ms() >= next_starved_retry_ms) retry_starved();
  // A rescan holds the loop for as long as listing the subtree takes (0.3 s for 100,000
  // files): the kernel's queue is read ahead meanwhile, or the burst that overflowed it once
  // overflows it again during the rescan, and again during the next.
  if (rescan_pending && now_ms() >= rescan_due_ms) {
    if (kernel) kernel->read_ahead();
    rescan(rescan_reason);
  }
  if (opt.reconcile_every_ms > 0 && !ended && now_ms() >= next_reconcile_ms) {
    if (kernel) kernel->read_ahead();
    rescan("reconcile");
    next_reconcile_ms = now_ms() + opt.reconcile_every_ms;
  }
  if (!opt.state_file.empty() && now_ms() >= next_state_save_ms) {
    if (log.position() == saved_at_position) {
      next_state_save_ms = now_ms() + opt.state_save_every_ms;  // nothing happened since
    } else if (!consumer_durable()) {
      next_state_save_ms = now_ms() + std::min(opt.state_save_every_ms, 500);  // soon, not now
    } else if (auto r = save_state_now(); !r) {
      warn(r.error());
    }
  }
  if (!deferred_write_stats.empty() && !ended && now_ms() >= deferred_write_stats.front().due_ms) {
    restat_deferred_writes();
  }
  // Timed duties of the trackers last (a polling pass), after the reads and rescans above.
  for (backend::Tracker* t : trackers()) {
    if (t && !ended && t->due_ms() != backend::Tracker::kNever && now_ms() >= t->due_ms()) t->run_due();
  }
  serve_readers();
  return !ended;
}

Watcher::Watcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Watcher::~Watcher() = default;

Result<std::unique_ptr<Watcher>> Watcher::create(WatchOptions options) {
  return std::unique_ptr<Watcher>(new Watcher(std::make_unique<Impl>(std::move(options))));
}

Result<void> Watcher::start() { return impl_->start(); }
bool Watcher::step(int timeout_ms) {
  bool more = impl_->step(timeout_ms);
  impl_->publish_stats();
  return more;
}

void Watcher::run() {
  while (step(impl_->opt.state_file.empty() ? -1 : impl_->opt.state_save_every_ms)) {
  }
  // Stopping during a storm's backoff must not drop the rescan the consumer was promised.
  if (impl_->rescan_pending && !impl_->ended) impl_->rescan(impl_->rescan_reason);
  // A consumer that has not recorded everything yet saves after it has (Watcher::save_state).
  if (impl_->started && impl_->consumer_durable()) {
    if (auto r = impl_->save_state_now(); !r && impl_->opt.on_diagnostic) {
      impl_->opt.on_diagnostic(r.error(), false);
    }
  }
  impl_->publish_stats();
  impl_->log.close();
}

Result<void> Watcher::save_state() { return impl_->save_state_now(); }

void Watcher::request_stop() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->stop_fd.get(), &one, sizeof one);
}

Subscription* Watcher::primary() { return impl_->primary_sub.get(); }

bool Watcher::next_batch(std::vector<Event>& out, int timeout_ms) {
  if (!impl_->primary) return false;
  return impl_->log.take(*impl_->primary, out, timeout_ms);
}

void Watcher::rescan_now(const std::string& reason) {
  impl_->rescan(reason);
  impl_->publish_stats();
}

void Watcher::poll_now() {
  impl_->poll_pass(true);
  impl_->publish_stats();
}

void Watcher::Impl::publish_stats() {
  WatcherStats s = stats;
  s.events = log.appended();
  s.coalesced = log.coalesced();
  s.watches = inotify->watch_count();
  s.read_ahead_bytes = inotify->read_ahead_bytes();
  s.fanotify_marks = fanotify->mark_count();
  s.crawling = crawl.has_value();
  s.nodes = model.size();
  s.polled_dirs = poller.size();
  std::lock_guard lock(published_mu);
  published = s;
}

WatcherStats Watcher::stats() const {
  std::lock_guard lock(impl_->published_mu);
  return impl_->published;
}

Error Watcher::end_reason() const { return impl_->end_error; }

}  // namespace lookout
