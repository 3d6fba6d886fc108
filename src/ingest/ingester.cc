#include "ingest/ingester.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "proc/signal_names.h"
#include "sink/json_format.h"

namespace lookout::ingest {

namespace {

constexpr std::size_t kTailBytes = 4096;       // stdout_tail / stderr_tail keep this much
constexpr std::size_t kEventsPerStep = 4096;   // bounded work per step; the fd stays readable
constexpr std::int64_t kMaxRetryDelayMs = 3600 * 1000;

std::string seconds_text(std::int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (std::size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size())) {
    s.replace(pos, what.size(), with);
  }
}

// Reads what `fd` has without blocking, keeping the last kTailBytes in `tail`. Closes the fd
// at end of file.
void drain(sys::UniqueFd& fd, std::string& tail) {
  char buf[16384];
  while (fd.valid()) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more now
    if (n == 0) {
      fd.reset();
      return;
    }
    tail.append(buf, static_cast<std::size_t>(n));
    if (tail.size() > 4 * kTailBytes) tail.erase(0, tail.size() - kTailBytes);
  }
}

std::optional<std::string> tail_of(std::string& t) {
  if (t.empty()) return std::nullopt;
  if (t.size() > kTailBytes) t.erase(0, t.size() - kTailBytes);
  return t;
}

}  // namespace

struct Ingester::Job {
  std::string path;
  std::int64_t row = 0;
  std::int64_t first_seen_ns = 0;
  store::Version version;
  std::string hash;
  int attempts = 0;  // including this one
  std::string content;  // --store
  bool too_big = false;
  std::optional<proc::Child> child;
  sys::UniqueFd out, err;
  std::string out_tail, err_tail;
  std::int64_t started_ms = 0;
  bool timed_out = false, killed = false, interrupted = false;
  std::int64_t kill_at_ms = 0;
};

Ingester::Ingester(IngestOptions options, store::Journal& journal, Subscription& events, std::FILE* log,
                   std::FILE* out, sys::Clock& clock)
    : opt_(std::move(options)),
      journal_(journal),
      events_(events),
      log_(log),
      out_(out),
      clock_(clock),
      rules_(opt_.dir, opt_.match, opt_.default_ignores, opt_.watch.exclude_paths),
      tracker_(CompletionOptions{opt_.settle_ms, opt_.settle_moves, std::max<std::int64_t>(10 * opt_.settle_ms, 5000)},
               entry_stamps, writers_of) {}

Ingester::~Ingester() = default;

void Ingester::say(const std::string& line) {
  if (!log_) return;
  std::fprintf(log_, "lookout ingest: %s\n", line.c_str());
  std::fflush(log_);
}

void Ingester::start() {
  if (auto rows = journal_.unfinished(); rows) {
    for (store::Row& r : *rows) leftovers_[r.path] = std::move(r);
  } else {
    journal_failed(rows.error());
  }
  take_events();  // what is there already (`exists`), and which subtrees are polled
  settle_leftovers();
}

void Ingester::settle_leftovers() {
  for (auto it = leftovers_.begin(); it != leftovers_.end();) {
    if (entry_stamps(it->first)) {
      ++it;
      continue;
    }
    store::Outcome o;
    o.note = "gone while lookout was not running (it was " + it->second.status + ")";
    if (!journal_ok(journal_.finish(it->second.id, now_ns(), o))) return;
    it = leftovers_.erase(it);
  }
}

bool Ingester::polled(const std::string& path) const {
  return std::any_of(polled_.begin(), polled_.end(), [&](const std::string& p) {
    return path.size() > p.size() && path.compare(0, p.size(), p) == 0 && (p == "/" || path[p.size()] == '/');
  });
}

void Ingester::scan(const std::string& top) {
  const std::int64_t ms = now_ms(), ns = now_ns();
  list_files(top, opt_.recursive, rules_, [&](const std::string& path) {
    if (rules_.wanted(path)) tracker_.found(path, ms, ns);
  });
}

void Ingester::take_events() {
  scratch_.clear();
  const bool more = events_.try_take(scratch_, kEventsPerStep);
  const std::int64_t ms = now_ms(), ns = now_ns();
  for (const Event& e : scratch_) {
    switch (e.kind) {
      case EventKind::backend:
        if (e.reason.rfind("poll", 0) == 0 && std::find(polled_.begin(), polled_.end(), e.path) == polled_.end()) {
          polled_.push_back(e.path);
        }
        continue;
      case EventKind::rescan:
        scan(e.path.empty() ? opt_.dir : e.path);
        continue;
      case EventKind::unmount:
        continue;
      default:
        break;
    }
    if (e.is_dir) {
      tracker_.add(e, false, ms, ns);  // a removed or renamed directory: forget what was below
      if (opt_.recursive && (e.kind == EventKind::create || e.kind == EventKind::rename) && !rules_.excluded(e.path)) {
        scan(e.path);  // what it holds already: files written before its watch existed
      }
      continue;
    }
    const bool to_wanted = rules_.wanted(e.path);
    if (!to_wanted) {
      // Renamed to a name not taken (or out of the box): what was waiting under the old name ends.
      if (e.kind == EventKind::rename && !e.from.empty()) tracker_.forget(e.from);
      continue;
    }
    tracker_.add(e, polled(e.path), ms, ns);
  }
  if (!more && !ended_) {
    ended_ = true;
    stop();
  }
}

std::vector<int> Ingester::fds() const {
  std::vector<int> out;
  if (!ended_) out.push_back(events_.fd());
  for (const auto& j : jobs_) {
    if (j->child && j->child->exit_fd() >= 0) out.push_back(j->child->exit_fd());
    if (j->out.valid()) out.push_back(j->out.get());
    if (j->err.valid()) out.push_back(j->err.get());
  }
  return out;
}

int Ingester::wait_ms() const {
  const std::int64_t now = now_ms();
  std::int64_t due = tracker_.next_due_ms();
  const bool slot = static_cast<int>(jobs_.size()) < opt_.jobs && !stopping_;
  if (slot && !queue_.empty()) due = 0;
  if (slot) {
    for (const Retry& r : retries_) due = std::min(due, r.due_ms);
  }
  for (const auto& j : jobs_) {
    if (opt_.timeout_ms > 0 && !j->timed_out) due = std::min(due, j->started_ms + opt_.timeout_ms);
    if (j->kill_at_ms > 0 && !j->killed) due = std::min(due, j->kill_at_ms);
    // No pidfd (pre-5.3 kernels): look again soon.
    if (j->child && j->child->exit_fd() < 0) due = std::min(due, now + 50);
  }
  // The stop deadline matters until every running handler has been told to stop.
  if (stopping_ && std::any_of(jobs_.begin(), jobs_.end(), [](const auto& j) { return !j->interrupted; })) {
    due = std::min(due, stop_deadline_ms_);
  }
  if (due == INT64_MAX) return -1;
  return static_cast<int>(std::clamp<std::int64_t>(due - now, 0, INT_MAX));
}

void Ingester::stop() {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ms_ = now_ms() + opt_.stop_timeout_ms;
}

bool Ingester::step() {
  if (!ended_) take_events();
  const std::int64_t now = now_ms();
  for (auto& r : tracker_.take(now)) {
    if (queued_.insert(r.path).second) queue_.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < jobs_.size();) {
    Job& j = *jobs_[i];
    drain(j.out, j.out_tail);
    drain(j.err, j.err_tail);
    if (j.child->try_reap()) {
      std::unique_ptr<Job> done = std::move(jobs_[i]);
      jobs_.erase(jobs_.begin() + static_cast<std::ptrdiff_t>(i));
      on_exit(*done);
      continue;
    }
    if (opt_.timeout_ms > 0 && !j.timed_out && now >= j.started_ms + opt_.timeout_ms) {
      j.timed_out = true;
      j.child->signal_group(SIGTERM);
      j.child->signal_group(SIGCONT);
      j.kill_at_ms = now + opt_.kill_after_ms;
    }
    if (stopping_ && now >= stop_deadline_ms_ && !j.interrupted) {
      j.interrupted = true;
      j.child->signal_group(SIGTERM);
      j.child->signal_group(SIGCONT);
      if (j.kill_at_ms == 0) j.kill_at_ms = now + opt_.kill_after_ms;
    }
    if (j.kill_at_ms > 0 && !j.killed && now >= j.kill_at_ms) {
      j.killed = true;
      j.child->signal_group(SIGKILL);
    }
    ++i;
  }
  if (!stopping_) {
    for (std::size_t i = 0; i < retries_.size() && static_cast<int>(jobs_.size()) < opt_.jobs;) {
      if (retries_[i].due_ms > now) {
        ++i;
        continue;
      }
      Retry r = std::move(retries_[i]);
      retries_.erase(retries_.begin() + static_cast<std::ptrdiff_t>(i));
      start_retry(std::move(r));
    }
    dispatch();
  }
  return !(stopping_ && jobs_.empty());
}

void Ingester::dispatch() {
  while (!stopping_ && static_cast<int>(jobs_.size()) < opt_.jobs && !queue_.empty()) {
    CompletionTracker::Ready r = std::move(queue_.front());
    queue_.pop_front();
    queued_.erase(r.path);
    take_file(r.path, r.first_seen_ns);
  }
}

void Ingester::take_file(const std::string& path, std::int64_t first_seen_ns) {
  if (busy_.count(path)) {
    deferred_.insert(path);  // taken again once its handler is done
    return;
  }
  Snapshot snap = snapshot(path, opt_.store, opt_.store_max, opt_.stdin_content && !opt_.store);
  auto leftover = leftovers_.find(path);
  switch (snap.kind) {
    case Snapshot::Kind::gone:
      return;  // deleted before it was taken (a leftover row is settled at start)
    case Snapshot::Kind::not_regular:
      ++stats_.skipped;
      if (said_.size() < 100000 && said_.insert(path).second) say("not taking " + path + ": it is " + snap.what);
      return;
    case Snapshot::Kind::changed:
      tracker_.changed(path, now_ms(), now_ns());
      return;
    case Snapshot::Kind::unreadable: {
      // Recorded (the box holds a file nobody processed) but no handler runs.
      ++stats_.failed;
      auto row = journal_.claim(path, {}, std::nullopt, first_seen_ns);
      if (!row) return journal_failed(row.error());
      store::Outcome o;
      o.note = "cannot read it: " + snap.what;
      if (!journal_ok(journal_.finish(*row, now_ns(), o))) return;
      say("cannot read " + path + ": " + snap.what + " (not processed; make it readable to lookout)");
      return;
    }
    case Snapshot::Kind::ok:
      break;
  }
  auto done = journal_.finished(path, snap.version, snap.hash);
  if (!done) return journal_failed(done.error());
  if (*done) {
    ++stats_.skipped;  // this version was processed before
    return;
  }
  if (leftover != leftovers_.end()) {
    store::Row prev = std::move(leftover->second);
    leftovers_.erase(leftover);
    if (prev.version.ino == snap.version.ino && prev.version.size == snap.version.size &&
        prev.version.mtime_ns == snap.version.mtime_ns && prev.hash == snap.hash) {
      const std::string note = prev.status == "running" ? "retried after crash" : "";
      return begin(path, prev.id, first_seen_ns, std::move(snap), prev.attempts, note);
    }
    store::Outcome o;
    o.note = "replaced by a newer version while lookout was not running";
    if (!journal_ok(journal_.finish(prev.id, now_ns(), o))) return;
  }
  auto row = journal_.claim(path, snap.version, snap.hash, first_seen_ns);
  if (!row) return journal_failed(row.error());
  begin(path, *row, first_seen_ns, std::move(snap), 0, "");
}

void Ingester::begin(const std::string& path, std::int64_t row, std::int64_t first_seen_ns, Snapshot snap,
                     int attempts, const std::string& note) {
  // The row says `running` before anything runs: a crash from here on is retried at start.
  if (!journal_ok(journal_.start(row, now_ns(), note))) return;
  auto job = std::make_unique<Job>();
  job->path = path;
  job->row = row;
  job->first_seen_ns = first_seen_ns;
  job->version = snap.version;
  job->hash = snap.hash;
  job->attempts = attempts + 1;
  job->started_ms = now_ms();
  busy_.insert(path);
  if (opt_.store) {
    job->content = std::move(snap.content);
    job->too_big = snap.too_big;
    conclude(*job, !job->too_big, std::nullopt,
             job->too_big ? "content not stored: " + std::to_string(snap.version.size) + " bytes, more than the cap of " +
                                std::to_string(opt_.store_max)
                          : "");
    return;
  }
  run_handler(std::move(job), snap);
}

void Ingester::run_handler(std::unique_ptr<Job> job, Snapshot& snap) {
  proc::SpawnOptions so;
  const std::string& path = job->path;
  if (opt_.shell) {
    std::string script;
    for (const std::string& w : opt_.command) script += (script.empty() ? "" : " ") + w;
    replace_all(script, "{}", "\"$1\"");  // the path is an argument, never shell syntax
    so.argv = {"/bin/sh", "-c", script, "lookout-ingest", path};
  } else {
    so.argv = opt_.command;
    for (std::string& a : so.argv) replace_all(a, "{}", path);
  }
  so.env_add = {"LOOKOUT_FILE=" + path, "LOOKOUT_SIZE=" + std::to_string(job->version.size),
                "LOOKOUT_HASH=" + job->hash, "LOOKOUT_ATTEMPT=" + std::to_string(job->attempts),
                "LOOKOUT_ID=" + std::to_string(job->row)};
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  sys::UniqueFd null_in;
  if (snap.fd.valid()) {
    so.stdin_fd = snap.fd.get();
  } else {
    null_in = sys::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    so.stdin_fd = null_in.get();
  }
  if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) != 0 || ::pipe2(err, O_CLOEXEC | O_NONBLOCK) != 0) {
    for (int fd : {out[0], out[1]}) {
      if (fd >= 0) ::close(fd);
    }
    conclude(*job, false, std::nullopt, std::string("cannot make pipes for the handler: ") + std::strerror(errno));
    return;
  }
  // The child's ends block like any stdout; only lookout's ends are non-blocking.
  ::fcntl(out[1], F_SETFL, 0);
  ::fcntl(err[1], F_SETFL, 0);
  so.stdout_fd = out[1];
  so.stderr_fd = err[1];
  auto child = proc::Child::spawn(so);
  ::close(out[1]);
  ::close(err[1]);
  job->out = sys::UniqueFd(out[0]);
  job->err = sys::UniqueFd(err[0]);
  if (!child) {
    job->err_tail = child.error().message;
    Job& j = *job;
    conclude(j, false, 127, child.error().message);
    return;
  }
  job->child = std::move(*child);
  jobs_.push_back(std::move(job));
}

void Ingester::on_exit(Job& job) {
  drain(job.out, job.out_tail);
  drain(job.err, job.err_tail);
  job.out.reset();
  job.err.reset();
  const int status = job.child->status().value_or(0);
  const int code = proc::exit_code_of(status);
  if (job.interrupted && !job.timed_out) {
    // Stopped by lookout's own shutdown: not the handler's failure; the next start runs it.
    journal_ok(journal_.set_pending(job.row, "interrupted when lookout stopped; runs again at the next start", code));
    busy_.erase(job.path);
    return;
  }
  const bool ok = !job.timed_out && WIFEXITED(status) && code == 0;
  std::string why;
  if (job.timed_out) {
    why = "timed out after " + seconds_text(opt_.timeout_ms) + " (process group sent TERM" +
          (job.killed ? ", then KILL" : "") + ")";
  } else if (WIFSIGNALED(status)) {
    why = std::string("killed by signal ") + proc::signal_name(WTERMSIG(status));
  } else if (!ok) {
    why = "exit " + std::to_string(code);
  }
  if (!ok && job.attempts <= opt_.retries && stopping_) {
    journal_ok(journal_.set_pending(job.row, "try " + std::to_string(job.attempts) + " failed (" + why +
                                                 "); tried again at the next start", code));
    busy_.erase(job.path);
    return;
  }
  if (!ok && job.attempts <= opt_.retries) {
    std::int64_t delay = opt_.retry_delay_ms;
    for (int i = 1; i < job.attempts && delay < kMaxRetryDelayMs; ++i) delay *= 2;
    delay = std::min(delay, kMaxRetryDelayMs);
    const std::string note = "try " + std::to_string(job.attempts) + " failed (" + why + "); next in " + seconds_text(delay);
    if (!journal_ok(journal_.set_pending(job.row, note, code))) {
      busy_.erase(job.path);
      return;
    }
    ++stats_.retried;
    say(job.path + ": " + note);
    retries_.push_back(Retry{job.path, job.row, job.first_seen_ns, job.version, job.hash, job.attempts,
                             now_ms() + delay});
    return;
  }
  conclude(job, ok, code, why);
}

void Ingester::conclude(Job& job, bool ok, std::optional<int> exit_status, const std::string& why) {
  const std::int64_t duration = now_ms() - job.started_ms;
  std::string note = why;
  auto add_note = [&](const std::string& n) { note += (note.empty() ? "" : "; ") + n; };
  std::string moved_to;
  const std::string& dest = ok ? opt_.done_dir : opt_.failed_dir;
  const bool act = ok ? (opt_.delete_done || !dest.empty()) : !dest.empty();
  if (act) {
    auto now = entry_stamps(job.path);
    if (!now) {
      add_note("the file was gone when its handler ended");
    } else if (now->ino != job.version.ino || now->size != job.version.size || now->mtime_ns != job.version.mtime_ns) {
      add_note("changed while its handler ran: left in place (the new version is taken next)");
    } else if (ok && opt_.delete_done) {
      if (::unlink(job.path.c_str()) == 0) {
        add_note("deleted");
      } else {
        add_note(std::string("cannot delete it: ") + std::strerror(errno));
      }
    } else if (auto to = move_below(opt_.dir, job.path, dest); to) {
      moved_to = *to;
    } else {
      add_note(to.error().message);
      say(to.error().message);
    }
  }
  store::Outcome o;
  o.ok = ok;
  o.exit_status = exit_status;
  o.duration_ms = duration;
  o.note = note;
  o.stdout_tail = tail_of(job.out_tail);
  o.stderr_tail = tail_of(job.err_tail);
  o.moved_to = moved_to;
  if (opt_.store && ok) o.content = &job.content;
  journal_ok(journal_.finish(job.row, now_ns(), o));
  if (ok) {
    ++stats_.ok;
  } else {
    ++stats_.failed;
    say(job.path + ": failed" + (job.attempts > 1 ? " after " + std::to_string(job.attempts) + " tries" : "") +
        (note.empty() ? "" : " (" + note + ")"));
  }
  json_line(job, ok ? "ok" : "failed", exit_status, duration, moved_to);
  release(job.path);
}

void Ingester::start_retry(Retry r) {
  Snapshot snap = snapshot(r.path, false, 0, opt_.stdin_content);
  if (snap.kind == Snapshot::Kind::ok && snap.version == r.version && snap.hash == r.hash) {
    return begin(r.path, r.row, r.first_seen_ns, std::move(snap), r.attempts, "");
  }
  store::Outcome o;
  o.note = snap.kind == Snapshot::Kind::gone ? "gone before its next try"
                                             : "changed before its next try (the new version is taken on its own)";
  journal_ok(journal_.finish(r.row, now_ns(), o));
  ++stats_.failed;
  release(r.path);
  if (snap.kind != Snapshot::Kind::gone) tracker_.changed(r.path, now_ms(), now_ns());
}

void Ingester::release(const std::string& path) {
  busy_.erase(path);
  if (deferred_.erase(path) && queued_.insert(path).second) queue_.push_back({path, now_ns()});
}

void Ingester::json_line(const Job& job, const char* status, std::optional<int> exit_status, std::int64_t duration_ms,
                         const std::string& moved_to) {
  if (!opt_.json || !out_) return;
  std::string line = "{\"id\":" + std::to_string(job.row);
  sink::append_path_field("path", job.path, line);
  line += ",\"size\":" + std::to_string(job.version.size) + ",\"hash\":\"" + job.hash + "\",\"status\":\"" + status +
          "\",\"attempts\":" + std::to_string(job.attempts) + ",\"duration_ms\":" + std::to_string(duration_ms) +
          ",\"exit_status\":" + (exit_status ? std::to_string(*exit_status) : "null");
  if (!moved_to.empty()) sink::append_path_field("moved_to", moved_to, line);
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

bool Ingester::journal_ok(const Result<void>& r) {
  if (r) return true;
  journal_failed(r.error());
  return false;
}

void Ingester::journal_failed(const Error& e) {
  if (exit_code_ != 0) return;
  exit_code_ = 1;
  say(e.message + "; taking no more files (running handlers may finish; start lookout again once fixed: "
                  "files not processed are taken then)");
  stop();
}

}  // namespace lookout::ingest
