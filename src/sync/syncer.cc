#include "sync/syncer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstring>

#include "sink/json_format.h"
#include "sync/batch_paths.h"
#include "sync/reach_probe.h"
#include "sync/remote_move.h"
#include "sys/clock.h"
#include "sys/entry_stamps.h"
#include "sys/file_writers.h"

namespace lookout::sync {

namespace {

// Renames `from` to `to` on a local target, only when the target has `from` as a directory and
// nothing at `to`: then it holds what SOURCE's `from` held, as of the last batch.
bool replay_local_move(const TargetSpec& t, const std::string& from, const std::string& to) {
  if (t.kind != TargetKind::local || from.empty() || to.empty()) return false;
  const std::string base = t.destination.substr(0, t.destination.size() - 1);
  const std::string old_path = base + "/" + from, new_path = base + "/" + to;
  struct stat st {};
  if (::lstat(old_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  if (::lstat(new_path.c_str(), &st) == 0 || errno != ENOENT) return false;
  return ::rename(old_path.c_str(), new_path.c_str()) == 0;
}

// An anonymous file for rsync's stdin or output: no name, gone with its last fd.
sys::UniqueFd anonymous_file(const char* name) {
  return sys::UniqueFd(::memfd_create(name, MFD_CLOEXEC));
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return ::lseek(fd, 0, SEEK_SET) == 0;
}

// The last `max` bytes of what was written to `fd`.
std::string read_tail(int fd, std::size_t max) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return {};
  const off_t size = st.st_size;
  const off_t from = size > static_cast<off_t>(max) ? size - static_cast<off_t>(max) : 0;
  std::string out(static_cast<std::size_t>(size - from), '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), from);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string seconds_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000.0);
  return buf;
}

const char* pass_name(PassKind k) {
  switch (k) {
    case PassKind::full: return "full";
    case PassKind::incremental: return "incremental";
    case PassKind::verify: return "verify";
    case PassKind::move: return "move";
  }
  return "?";
}

}  // namespace

struct Syncer::Target {
  TargetSpec spec;
  TargetQueue queue;
  TargetStats stats;
  std::optional<proc::Child> child;
  TargetJob job;
  std::int64_t started_ms = 0;
  sys::UniqueFd out, err;
  TargetHealth announced = TargetHealth::starting;
  bool tried = false;  // --once: one try each
  std::optional<ReachProbe> probe;  // while `unreachable`: tells when the target is back
  bool unreachable = false;         // the last transfer failed to connect

  Target(TargetSpec s, std::int64_t retry_max_ms) : spec(std::move(s)), queue(retry_max_ms) {
    if (auto a = probe_address(spec)) probe.emplace(*a);
  }
};

Syncer::Syncer(const SyncOptions& options, RsyncCommand command, Subscription* events, store::SyncState* state,
               std::FILE* log, std::FILE* out)
    : opt_(options),
      command_(std::move(command)),
      events_(events),
      state_(state),
      log_(log),
      out_(out),
      // A file still open for writing is not sent: it is complete at its close_write, or after
      // kSettleMs without a change (a writer that never closes), not after the short --delay.
      batcher_(batch::BatchOptions{opt_.delay_ms, std::max(opt_.max_delay_ms, opt_.delay_ms),
                                   std::max<std::int64_t>(opt_.delay_ms, kSettleMs)},
               sys::entry_stamps),
      devnull_(::open("/dev/null", O_RDWR | O_CLOEXEC)) {
  for (const TargetSpec& t : opt_.targets) targets_.push_back(std::make_unique<Target>(t, opt_.retry_max_ms));
  ended_ = events_ == nullptr;
}

Syncer::~Syncer() {
  for (auto& t : targets_) {
    if (t->child && t->child->running()) t->child->stop(SIGTERM, std::chrono::milliseconds(opt_.stop_timeout_ms));
  }
}

const TargetStats& Syncer::stats(std::size_t target) const { return targets_.at(target)->stats; }

void Syncer::say(const std::string& line) {
  if (!log_) return;
  std::fprintf(log_, "lookout sync: %s\n", line.c_str());
  std::fflush(log_);
}

void Syncer::emit(const std::string& json_line) {
  if (!opt_.json || !out_) return;
  std::fputs(json_line.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void Syncer::record(const std::vector<std::string>& targets, const std::vector<std::string>& paths) {
  if (!state_ || failed_state_ || paths.empty()) return;
  if (auto r = state_->add_pending(targets, paths); !r) {
    say(r.error().message);
    failed_state_ = true;
    exit_code_ = 1;
  }
}

Result<void> Syncer::begin(bool restarted, std::int64_t now_ms) {
  std::vector<std::string> known;
  if (state_) {
    auto k = state_->known_targets();
    if (!k) return k.error();
    known = std::move(*k);
  }
  std::vector<std::string> fresh;
  for (auto& t : targets_) {
    const bool seen = std::find(known.begin(), known.end(), t->spec.text) != known.end();
    if (!restarted || !seen || opt_.once) {
      t->queue.add_full();
      fresh.push_back(t->spec.text);
      continue;
    }
    auto pending = state_->pending(t->spec.text);
    if (!pending) return pending.error();
    for (const std::string& p : *pending) t->queue.add(p);
  }
  record(fresh, {""});
  if (restarted && events_) {
    // The engine reported what changed while lookout was not running before it was ready:
    // it is all in the subscription now. Most of it the targets already have (sent before a
    // kill -9, after the state was saved), so rsync may skip what matches by size and mtime.
    scratch_.clear();
    if (!events_->try_take(scratch_)) ended_ = true;
    enqueue(scratch_, /*quick_check=*/true);
  }
  if (opt_.verify_every_ms > 0) next_verify_ms_ = now_ms + opt_.verify_every_ms;
  step(now_ms);
  return {};
}

void Syncer::enqueue(const std::vector<Event>& batch, bool quick_check) {
  if (batch.empty()) return;
  BatchPaths bp = batch_paths(batch, command_.source, [&](const std::string& rel) {
    return list_under_source(command_.source, rel);
  });
  for (auto& t : targets_) {
    if (bp.full) t->queue.add_full();
    std::vector<std::string> paths = bp.paths;
    std::vector<std::string> moved;  // replayed on an ssh target later: recorded, not queued
    // A directory renamed in SOURCE is renamed on a target that is in step (nothing in flight
    // or pending), so its content is not copied again: at once on a local target, by a move
    // job ahead of the next rsync on an ssh target. Otherwise its content is sent.
    const bool in_step = t->queue.pending() == 0 && !t->queue.busy();
    for (const BatchPaths::Move& m : bp.moves) {
      if (in_step && replay_local_move(t->spec, m.from, m.to)) continue;
      if (in_step && t->spec.kind == TargetKind::ssh && !m.from.empty()) {
        moved.insert(moved.end(), m.content.begin(), m.content.end());
        t->queue.add_move(m);
        continue;
      }
      paths.insert(paths.end(), m.content.begin(), m.content.end());
    }
    for (const std::string& p : paths) t->queue.add(p, quick_check);
    if (bp.full) paths.push_back("");
    paths.insert(paths.end(), moved.begin(), moved.end());
    record({t->spec.text}, paths);
  }
}

void Syncer::take_events(std::int64_t now_ms) {
  if (ended_) return;
  scratch_.clear();
  if (!events_->try_take(scratch_)) ended_ = true;
  for (const Event& e : scratch_) {
    if (e.kind == EventKind::rename && !e.from.empty()) {
      // The batcher moves what was pending under the old name to the new one and forgets the
      // old name; the mirror must still delete it there (a -> b -> c in one batch leaves no
      // `a` on the targets).
      batcher_.add(e, now_ms);
      Event gone;
      gone.kind = EventKind::remove;
      gone.path = e.from;
      gone.is_dir = e.is_dir;
      batcher_.add(gone, now_ms);
      continue;
    }
    // The batcher waits for a new file's close_write (or `settle` of quiet). A symlink, a
    // hard link or a file moved in from outside is never written after its create, and a
    // file found in a new directory may have been closed before the directory's watch
    // existed (its close_write never comes): complete at once when nobody has it open for
    // writing, so it goes with the batch it came in.
    if (e.kind == EventKind::create && !e.is_dir &&
        // writers_of says `none` for what is not a regular file (a symlink) or is gone.
        (e.reason == "moved_in" || sys::writers_of(e.path) == sys::Writers::none)) {
      Event done = e;
      done.kind = EventKind::close_write;
      batcher_.add(done, now_ms);
      continue;
    }
    batcher_.add(e, now_ms);
  }
}

std::vector<int> Syncer::fds() const {
  std::vector<int> out;
  if (!ended_) out.push_back(events_->fd());
  for (const auto& t : targets_) {
    if (t->child && t->child->running() && t->child->exit_fd() >= 0) out.push_back(t->child->exit_fd());
  }
  return out;
}

int Syncer::wait_ms(std::int64_t now_ms) const {
  std::int64_t due = std::min(batcher_.next_due_ms(), next_verify_ms_);
  for (const auto& t : targets_) {
    due = std::min(due, t->queue.next_try_ms());
    if (t->unreachable && t->probe && !t->child) due = std::min(due, t->probe->next_due_ms());
    // No pidfd (a kernel before 5.3): look for the child's exit every 50 ms.
    if (t->child && t->child->running() && t->child->exit_fd() < 0) due = std::min(due, now_ms + 50);
  }
  if (due == INT64_MAX) return -1;
  return static_cast<int>(std::clamp<std::int64_t>(due - now_ms, 0, 24 * 3600 * 1000));
}

void Syncer::verify_now() {
  for (auto& t : targets_) t->queue.add_full(/*verify=*/true, opt_.verify_checksum);
}

bool Syncer::step(std::int64_t now_ms) {
  take_events(now_ms);
  std::vector<Event> batch = ended_ ? batcher_.take_all() : batcher_.take_due(now_ms);
  enqueue(batch, false);
  if (now_ms >= next_verify_ms_) {
    verify_now();
    next_verify_ms_ = now_ms + opt_.verify_every_ms;
  }
  bool busy = false;
  for (auto& t : targets_) {
    if (t->child && t->child->try_reap()) finish_transfer(*t, now_ms);
    if (!t->child && t->unreachable && t->probe && !t->queue.ready(now_ms) && t->queue.has_work() &&
        t->probe->reachable(now_ms)) {
      t->queue.retry_now();
    }
    if (!t->child && t->queue.ready(now_ms) && !(opt_.once && t->tried)) start_transfer(*t, now_ms);
    busy = busy || t->child.has_value() || (t->queue.has_work() && !(opt_.once && t->tried));
  }
  // Nothing waits in the batcher: every change taken so far went through record().
  if (events_ && state_ && !failed_state_ && batcher_.complete() == 0 && batcher_.writing() == 0) {
    durable_through_ = events_->taken_through();
  }
  if (failed_state_) return false;
  if (opt_.once) return busy;
  // Watching ended (the source deleted, a fatal error): what was seen is sent, then done.
  return !(ended_ && !busy);
}

void Syncer::finish_job(Target& t, bool ok, std::int64_t now_ms) {
  std::vector<std::string> confirmed = t.queue.finish(ok, now_ms);
  if (ok && state_ && !failed_state_) {
    if (auto r = state_->confirm(t.spec.text, confirmed); !r) {
      say(r.error().message);
      failed_state_ = true;
      exit_code_ = 1;
    }
  }
}

void Syncer::finish_move(Target& t, int code, std::int64_t now_ms) {
  const std::string err = trim(read_tail(t.err.get(), 2048));
  t.out.reset();
  t.err.reset();
  const bool ok = code == 0;
  finish_job(t, ok, now_ms);
  if (!ok) {
    // Not a failure of the target: the content goes by rsync, as to any other target.
    say(t.spec.text + ": could not replay " + std::to_string(t.job.moves.size()) +
        " directory rename(s) there (exit " + std::to_string(code) + (err.empty() ? "" : ": " + err.substr(0, err.find('\n'))) +
        "); sending their content instead");
  }
  RsyncStats done;
  done.files = ok ? t.job.moves.size() : 0;
  emit_transfer(t, done, ok, code, err, now_ms);
}

void Syncer::emit_transfer(const Target& t, const RsyncStats& rs, bool ok, int code, const std::string& err,
                           std::int64_t now_ms) {
  if (!opt_.json) return;
  std::string j = "{\"event\":\"transfer\",\"target\":";
  sink::append_json_string(t.spec.text, j);
  j += ",\"pass\":\"";
  j += pass_name(t.job.kind);
  j += "\",\"files\":" + std::to_string(rs.files) + ",\"deleted\":" + std::to_string(rs.deleted) +
       ",\"bytes\":" + std::to_string(rs.bytes) + ",\"seconds\":" + seconds_text(now_ms - t.started_ms) +
       ",\"result\":\"" + (ok ? "ok" : "failed") + "\",\"rsync_exit\":" + std::to_string(code);
  if (!ok) {
    j += ",\"stderr\":";
    sink::append_json_string(err, j);
  }
  j += "}";
  emit(j);
}

void Syncer::start_transfer(Target& t, std::int64_t now_ms) {
  t.job = t.queue.take();
  t.tried = true;
  t.out = anonymous_file("rsync-stdout");
  t.err = anonymous_file("rsync-stderr");
  // A move job runs ssh with the renames on stdin; a failure there is no failure of the
  // target (the content is sent instead), so it is not said or counted.
  const bool move = t.job.kind == PassKind::move;
  proc::SpawnOptions so;
  std::string input;  // stdin: the NUL-separated renames, or rsync's --files-from list
  if (move) {
    so.argv = remote_move_argv(t.spec);
    input = remote_move_input(t.job.moves);
  } else {
    so.argv = rsync_argv(command_, t.spec, t.job.kind, t.job.checksum, t.job.quick_check);
    so.env_add = {"LC_ALL=C"};  // --stats in one known format
    if (t.job.kind == PassKind::incremental) input = files_from_list(t.job.paths);
  }
  so.stdout_fd = t.out.get();
  so.stderr_fd = t.err.get();
  so.stdin_fd = devnull_.get();
  sys::UniqueFd list;
  if (move || t.job.kind == PassKind::incremental) {
    list = anonymous_file(move ? "sync-moves" : "rsync-files-from");
    if (list.get() < 0 || !write_all(list.get(), input)) {
      if (!move) say(t.spec.text + ": cannot write the list of changed files (" + std::strerror(errno) + "); trying again");
      t.queue.finish(false, now_ms);
      return;
    }
    so.stdin_fd = list.get();
  }
  auto child = proc::Child::spawn(so);
  if (!child) {
    if (!move) {
      say(t.spec.text + ": cannot run " + command_.rsync + ": " + child.error().message);
      ++t.stats.failed;
    }
    t.queue.finish(false, now_ms);
    return;
  }
  t.child.emplace(std::move(*child));
  t.started_ms = now_ms;
}

void Syncer::finish_transfer(Target& t, std::int64_t now_ms) {
  const int status = *t.child->status();
  t.child.reset();
  const int code = proc::exit_code_of(status);
  if (t.job.kind == PassKind::move) {
    finish_move(t, code, now_ms);
    return;
  }
  const bool ok = rsync_succeeded(code);
  // Connection failures: the daemon's port (10, 35) or ssh (255) did not answer.
  t.unreachable = !ok && (code == 10 || code == 35 || code == 255);
  if (t.probe) t.probe->reset();
  const RsyncStats rs = parse_rsync_stats(read_tail(t.out.get(), 1 << 16));
  const std::string err = trim(read_tail(t.err.get(), 2048));
  t.out.reset();
  t.err.reset();
  ++t.stats.transfers;
  if (ok) {
    t.stats.files += rs.files;
    t.stats.deleted += rs.deleted;
  } else {
    ++t.stats.failed;
  }
  t.stats.bytes += rs.bytes;
  const TargetJob job = t.job;
  finish_job(t, ok, now_ms);
  emit_transfer(t, rs, ok, code, err, now_ms);
  if (ok && job.kind == PassKind::verify) {
    const std::uint64_t repaired = rs.files + rs.deleted;
    t.stats.repaired += repaired;
    say(t.spec.text + ": verify pass repaired " + std::to_string(repaired) + " entries");
    std::string j = "{\"event\":\"verify\",\"target\":";
    sink::append_json_string(t.spec.text, j);
    j += ",\"repaired\":" + std::to_string(repaired) + "}";
    emit(j);
  }
  if (!ok) {
    std::string why = describe_rsync_exit(code);
    if (!err.empty()) {
      // rsync's first line is the cause ("write failed ...: No space left on device");
      // later ones are its consequences ("Broken pipe", the exit summary).
      why += "; rsync said: " + err.substr(0, err.find('\n'));
    }
    if (opt_.once) {
      say(t.spec.text + ": " + pass_name(job.kind) + " pass failed: " + why);
      exit_code_ = 1;
    } else if (t.queue.health() != t.announced) {
      say(t.spec.text + ": " + health_name(t.queue.health()) + ", next try in " +
          seconds_text(t.queue.next_try_ms() - now_ms) + " s (" + why + ")");
    }
  } else if (t.announced == TargetHealth::retrying || t.announced == TargetHealth::down) {
    say(t.spec.text + ": up again");
  }
  if (t.queue.health() != t.announced) {
    t.announced = t.queue.health();
    std::string j = "{\"event\":\"target\",\"target\":";
    sink::append_json_string(t.spec.text, j);
    j += ",\"state\":\"";
    j += health_name(t.announced);
    j += "\",\"pending\":" + std::to_string(t.queue.pending()) + "}";
    emit(j);
  }
}

void Syncer::stop(std::int64_t now_ms) {
  for (auto& t : targets_) {
    if (t->child && t->child->running()) {
      t->child->stop(SIGTERM, std::chrono::milliseconds(opt_.stop_timeout_ms));
    }
    if (t->child) {
      // It may have finished just now: then its result counts.
      const int code = t->child->status() ? proc::exit_code_of(*t->child->status()) : -1;
      if (code == 0 || code == 24) {
        finish_transfer(*t, now_ms);
      } else {
        t->child.reset();
        t->queue.abandon();
      }
    }
  }
  // What the watcher saw until it stopped, batched or not, is recorded as unconfirmed.
  while (!ended_) {
    scratch_.clear();
    if (!events_->try_take(scratch_)) ended_ = true;
    if (scratch_.empty()) break;
    for (const Event& e : scratch_) batcher_.add(e, now_ms);
  }
  enqueue(batcher_.take_all(), false);
}

}  // namespace lookout::sync
