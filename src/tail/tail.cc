#include "tail/tail.h"

#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <memory>

#include "host/hosted_watch.h"
#include "lookout/watcher.h"
#include "store/tail_state.h"
#include "sys/clock.h"
#include "tail/output.h"
#include "tail/path_select.h"
#include "tail/tailer.h"

namespace lookout::tail {

std::string check_tail_options(const TailOptions& o) {
  if (o.paths.empty()) return "no PATH to read was given (lookout tail PATH...)";
  if (o.commit_every_ms < 0) return "--commit-every must not be negative";
  if (o.commit_lines == 0) return "--commit-lines must be at least 1";
  if (o.max_open == 0) return "--max-open must be at least 1";
  if (o.max_line == 0) return "--max-line must be at least 1 byte";
  if (o.reset_state && o.state.empty()) return "--reset-state needs --state FILE";
  for (const std::string& g : o.match) {
    if (g.empty()) return "--match: an empty pattern";
  }
  return {};
}

namespace {

namespace fs = std::filesystem;

// Pacing. When one take of events names many files (a tree where many logs are written at
// once), the next round waits until kPaceMs after it, so that each file's writes gather and
// are read with one fstat and one pread instead of one per line or two. Over 1000 files
// appended a line at a time (the bench's `files` scenario) this cut lookout's CPU 2.5-3x
// (preads 128,000 -> 20,000, opens 66,000 -> 10,000 for 200,000 lines); a lone write, or a
// few files, are read at once as before, so latency rises only under such load, by 50 ms at
// most (10 ms: 1.4x less CPU, 25 ms: 2.4x, 50 ms: 2.8x, 100 ms: 3.4x).
constexpr std::size_t kPaceAfterEvents = 128;
constexpr int kPaceMs = 50;

bool inside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (dir == "/" || path[dir.size()] == '/');
}

// Blocks the stop signals for the whole run (Host blocks them only while it lives), so that a
// TERM between two watchers (the roots re-created) is held for us, not fatal.
struct SignalBlock {
  sigset_t set, old;
  SignalBlock() {
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, &old);
  }
  ~SignalBlock() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  // Waits up to ms for a stop signal; returns it (0: none).
  int wait(int ms) {
    timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
    int s = sigtimedwait(&set, nullptr, &ts);
    return s > 0 ? s : 0;
  }
};

class Committer {
 public:
  Committer(store::TailState* state, Output& out, Tailer& tailer, sys::Clock& clock,
            const TailOptions& o)
      : state_(state),
        out_(out),
        tailer_(tailer),
        clock_(clock),
        o_(o),
        last_(clock.monotonic_ms()) {}
  bool due() const {
    return tailer_.lines_since_commit() >= o_.commit_lines ||
           clock_.monotonic_ms() - last_ >= o_.commit_every_ms;
  }
  int wait_ms() const {
    return static_cast<int>(std::max<std::int64_t>(
        0, last_ + std::max<std::int64_t>(o_.commit_every_ms, 1) - clock_.monotonic_ms()));
  }
  // Output first, then the offsets: an offset is never ahead of what the output holds.
  Result<void> commit() {
    last_ = clock_.monotonic_ms();
    if (auto r = out_.flush(); !r) return r;
    tailer_.committed();
    if (!state_) {
      (void)tailer_.take_changed();
      (void)tailer_.take_forgotten();
      return {};
    }
    return state_->commit(tailer_.take_changed(), tailer_.take_forgotten());
  }

 private:
  store::TailState* state_;
  Output& out_;
  Tailer& tailer_;
  sys::Clock& clock_;
  const TailOptions& o_;
  std::int64_t last_;
};

bool all_exist(const std::vector<std::string>& roots) {
  for (const std::string& r : roots) {
    struct stat st;
    if (::stat(r.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  }
  return true;
}

}  // namespace

Result<int> run(TailOptions o, std::FILE* log,
                std::function<void(const Error&, bool fatal)> on_diagnostic) {
  if (std::string problem = check_tail_options(o); !problem.empty()) {
    return Error{ErrorCode::invalid_argument, 0, "", problem};
  }
  auto selected = PathSelect::make(o.paths, o.match, o.exclude_globs);
  if (!selected) return selected.error();
  const PathSelect& select = *selected;

  std::unique_ptr<store::TailState> state;
  std::vector<store::TailFile> restored;
  bool first_start = true;
  if (!o.state.empty()) {
    std::error_code ec;
    o.state = fs::absolute(o.state, ec).lexically_normal().string();
    auto opened = store::TailState::open(o.state, select.describe(), o.reset_state);
    if (!opened) return opened.error();
    state = std::move(*opened);
    if (!state->moved_aside().empty() && log) {
      std::fprintf(log, "lookout tail: the old state was moved to %s; starting fresh\n",
                   state->moved_aside().c_str());
    }
    auto loaded = state->load();
    if (!loaded) return loaded.error();
    restored = std::move(*loaded);
    first_start = state->fresh();
    // The state and SQLite's files beside it are never read as logs.
    for (const char* side : {"", "-wal", "-shm", "-journal"}) o.own_files.push_back(o.state + side);
    for (const std::string& r : select.roots()) {
      if (inside(o.state, r)) {
        for (const char* side : {"", "-wal", "-shm", "-journal"})
          o.watch.exclude_paths.push_back(o.state + side);
      }
    }
  }

  SignalBlock signals;
  sys::Clock& clock = sys::system_clock();
  Output out(o.output_fd);
  Tailer tailer(o, select, out, log, clock);
  tailer.restore(restored, first_start);
  Committer committer(state.get(), out, tailer, clock, o);

  o.watch.paths = select.roots();
  o.watch.recursive = select.recursive();
  // The reader stats every file it reads (its own fstat, for size and truncation): the
  // engine's stat of each written file in each kernel read would be a second one.
  o.watch.stat_writes = false;
  o.watch.on_diagnostic = std::move(on_diagnostic);
  bool first = true, stopping = false;
  Error failure;
  for (;;) {
    SubscribeOptions so;
    so.events = event_bit(EventKind::create) | event_bit(EventKind::modify) |
                event_bit(EventKind::close_write) | event_bit(EventKind::attrib) |
                event_bit(EventKind::remove) | event_bit(EventKind::rename) |
                event_bit(EventKind::rescan) | event_bit(EventKind::unmount);
    auto hosted = host::start_hosted(o.watch, so, {SIGINT, SIGTERM, SIGHUP});
    if (!hosted) {
      if (hosted.error().code == ErrorCode::interrupted) {
        stopping = true;
        break;
      }
      if (first) return hosted.error();
      failure = hosted.error();
      break;
    }
    Watcher* watcher = hosted->watcher.get();
    Subscription* events = hosted->events.get();
    host::Host& host = *hosted->host;
    for (const std::string& r : select.roots()) tailer.scan(r, first);
    if (first) tailer.finish_initial_scan();
    if (first && o.ready && log) {
      std::fputs("READY\n", log);
      std::fflush(log);
    }
    first = false;
    if (o.once) {
      // Everything new since the state, then out: held partial lines stay for the next run.
      while (tailer.read() || tailer.lines_since_commit() >= o.commit_lines) {
        if (!tailer.fatal().message.empty()) break;
        if (auto c = committer.commit(); !c) {
          failure = c.error();
          break;
        }
      }
      stopping = true;
      break;
    }
    std::vector<Event> batch;
    std::int64_t paced_until_ms = 0;
    const int fd = events->fd();
    bool open = true;
    while (open) {
      if (!tailer.fatal().message.empty()) break;
      if (committer.due()) {
        if (auto c = committer.commit(); !c) {
          failure = c.error();
          break;
        }
      }
      const bool more = tailer.read();
      if (!more) {
        // Caught up: what was read goes out now, not at the next commit (latency).
        if (auto r = out.flush(); !r) {
          failure = r.error();
          break;
        }
      }
      int wait = more ? 0 : tailer.wait_ms();
      const int cw = committer.wait_ms();
      wait = wait < 0 ? cw : std::min(wait, cw);
      if (!more && paced_until_ms > clock.monotonic_ms()) {
        // Many files changed at once: let their writes gather before the next round.
        const auto left = static_cast<int>(paced_until_ms - clock.monotonic_ms());
        if (host.wait({}, wait < 0 ? left : std::min(left, wait)).signal != 0) {
          stopping = true;
          break;
        }
        // A commit, partial flush or idle close fell due before the pace ended: serve it.
        if (wait >= 0 && wait <= left) continue;
        if (wait >= 0) wait -= left;
      }
      auto wake = host.wait(std::span<const int>(&fd, 1), wait);
      if (wake.signal != 0) {
        stopping = true;
        break;
      }
      batch.clear();
      open = events->try_take(batch, 4096);
      paced_until_ms = batch.size() >= kPaceAfterEvents ? clock.monotonic_ms() + kPaceMs : 0;
      for (const Event& e : batch) tailer.on_event(e);
      tailer.tick();
    }
    host.stop();
    if (stopping || !failure.message.empty() || !tailer.fatal().message.empty()) break;
    Error end = watcher->end_reason();
    if (end.code != ErrorCode::root_gone) {
      failure = end.message.empty() ? Error{ErrorCode::io, 0, "", "watching ended"} : end;
      break;
    }
    // Every root went away: what is still open is read to its end; the roots, once they
    // exist again, are new trees (their files are new files, read from the start).
    if (log) {
      std::fprintf(log, "lookout tail: %s; waiting for it to exist again\n", end.message.c_str());
      std::fflush(log);
    }
    tailer.all_gone();
    while (!stopping && !all_exist(select.roots())) {
      tailer.read();
      tailer.tick();
      if (committer.due()) {
        if (auto c = committer.commit(); !c) {
          failure = c.error();
          break;
        }
      }
      if (signals.wait(100) != 0) stopping = true;
    }
    if (stopping || !failure.message.empty()) break;
  }
  // A stop: held partial lines are emitted (marked), so that nothing waits in memory only;
  // a reader that takes nothing more for a while is not waited for (its lines come again).
  if (stopping || !failure.message.empty()) out.stop(Output::kStopGraceMs);
  if (stopping && !o.once) tailer.flush_partials();
  if (auto c = committer.commit(); !c && failure.message.empty()) failure = c.error();
  if (!tailer.fatal().message.empty()) return tailer.fatal();
  if (!failure.message.empty()) return failure;
  return 0;
}

}  // namespace lookout::tail
