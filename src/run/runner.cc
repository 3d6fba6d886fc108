#include "run/runner.h"

#include "sys/entry_stamps.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "proc/signal_names.h"
#include "run/kube_volume.h"
#include "run/target_process.h"
#include "sink/json_format.h"
#include "sys/clock.h"
#include "sys/fs.h"

namespace lookout::run {

namespace {

// Restart mode: a program that exits within this long of its start crashed at once; each
// such exit doubles the wait before the next start, up to kMaxBackoffMs.
constexpr std::int64_t kQuickExitMs = 1000;
constexpr std::int64_t kFirstBackoffMs = 500;
constexpr std::int64_t kMaxBackoffMs = 30000;

std::string rfc3339_now() {
  std::string out;
  sink::append_rfc3339(sys::system_clock().realtime_ns(), out);
  return out;
}

}  // namespace

Runner::Runner(RunOptions options, const WatchPlan& plan, Subscription& events, std::FILE* log)
    : opt_(std::move(options)),
      events_(events),
      log_(log),
      under_(plan.under),
      filter_(plan.roots, opt_.match, opt_.default_ignores),
      batcher_(opt_.batch, sys::entry_stamps) {
  if (opt_.action == ActionKind::post) {
    if (auto t = parse_post_url(opt_.post_url)) post_target_ = *t;
  }
  remove_stale_event_files();
  if (opt_.skip_unchanged) {
    for (const std::string& f : plan.files) {
      if (auto h = content_hash(f)) hashes_[f] = *h;
    }
  }
  if (!opt_.log_json.empty()) {
    json_log_ = std::fopen(opt_.log_json.c_str(), "ae");
    if (!json_log_) say("cannot open --log-json " + opt_.log_json + ": " + std::strerror(errno) + "; not logging actions");
  }
}

Runner::~Runner() {
  stop();
  if (json_log_) std::fclose(json_log_);
}

void Runner::say(const std::string& line) {
  if (!log_) return;
  std::fprintf(log_, "lookout run: %s\n", line.c_str());
  std::fflush(log_);
}

bool Runner::in_scope(const std::string& path) const {
  return std::any_of(under_.begin(), under_.end(), [&](const std::string& u) {
    return path == u || (path.size() > u.size() && path.compare(0, u.size(), u) == 0 && path[u.size()] == '/');
  });
}

void Runner::announce_ready() {
  if (json_log_) {
    std::fputs(("{\"time\":\"" + rfc3339_now() + "\",\"event\":\"ready\"}\n").c_str(), json_log_);
    std::fflush(json_log_);
  }
}

void Runner::start(std::int64_t now_ms) {
  if (opt_.action == ActionKind::restart) {
    spawn({}, now_ms, "start");
  } else if (opt_.initial) {
    act({}, now_ms);
  }
}

std::vector<int> Runner::fds() const {
  std::vector<int> out;
  if (!ended_) out.push_back(events_.fd());
  if (child_ && child_->running() && child_->exit_fd() >= 0) out.push_back(child_->exit_fd());
  return out;
}

int Runner::wait_ms(std::int64_t now_ms) const {
  std::int64_t due = batcher_.next_due_ms();
  if (held_run_) due = std::min(due, not_before_ms_);
  if (post_pending_) due = std::min(due, next_try_ms_);
  // No pidfd (a kernel before 5.3): look for the child's exit every 50 ms.
  if (child_ && child_->running() && child_->exit_fd() < 0) due = std::min(due, now_ms + 50);
  if (due == batch::Batcher::kNever) return -1;
  return static_cast<int>(std::clamp<std::int64_t>(due - now_ms, 0, 24 * 3600 * 1000));
}

void Runner::take_events(std::int64_t now_ms) {
  if (ended_) return;
  scratch_.clear();
  if (!events_.try_take(scratch_)) ended_ = true;
  for (const Event& e : scratch_) {
    // A Kubernetes volume update: the swap of "..data" is the one change, told with the
    // user's names (which the filter below would pass; the writer's own are hidden).
    if (auto update = kube_update(e); !update.empty()) {
      for (const Event& u : update) {
        if (in_scope(u.path) && filter_.wanted(u.path)) batcher_.add(u, now_ms);
      }
      continue;
    }
    if (e.kind == EventKind::rescan) {
      batcher_.add(e, now_ms);  // what it re-found follows as ordinary events: one action
      continue;
    }
    const bool wanted = filter_.wanted(e.path) || (e.kind == EventKind::rename && filter_.wanted(e.from));
    if (wanted) batcher_.add(e, now_ms);
  }
}

bool Runner::step(std::int64_t now_ms) {
  if (done_) return false;
  take_events(now_ms);
  if (child_ && child_->try_reap()) on_exit(now_ms);
  if (done_) return false;
  if (post_pending_ && now_ms >= next_try_ms_) try_post(now_ms);
  if (done_) return false;
  if (held_run_ && now_ms >= not_before_ms_) {
    held_run_ = false;
    spawn(std::exchange(held_, {}), now_ms, "restart");
  }
  std::vector<Event> batch = ended_ ? batcher_.take_all() : batcher_.take_due(now_ms);
  if (!batch.empty()) act(std::move(batch), now_ms);
  if (ended_) {
    // Watching is over (the root was deleted, a fatal error): the last changes are acted on,
    // a command may finish, a kept program is stopped, and then run() returns.
    if (opt_.action == ActionKind::restart) stop();
    if (!(child_ && child_->running()) && !post_pending_) return false;
  }
  return !done_;
}

std::optional<std::uint64_t> Runner::content_hash(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto slash = path.rfind('/');
  sys::Fs& fs = sys::real_fs();
  sys::FsFd dir(fs, fs.open_dir(slash == 0 ? "/" : path.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return std::nullopt;
  std::uint64_t h = 0;
  if (hasher_.hash_at(fs, dir.get(), path.c_str() + slash + 1, st.st_ino, h) != 0) return std::nullopt;
  return h;
}

bool Runner::unchanged(const std::vector<Event>& batch) {
  bool same = true;
  for (const Event& e : batch) {
    if (!filter_.wanted(e.path)) continue;  // an editor's backup or probe name: not content
    switch (e.kind) {
      case EventKind::create:
      case EventKind::modify:
      case EventKind::close_write:
      case EventKind::attrib:
      case EventKind::rename: {
        // A rename over the name (an editor's atomic save) with the same bytes is no change
        // of the name's content; its old name left the scope it was hashed in.
        std::optional<std::uint64_t> h = content_hash(e.path);
        auto it = hashes_.find(e.path);
        if (!h || it == hashes_.end() || it->second != *h) same = false;
        if (h) {
          hashes_[e.path] = *h;
        } else {
          hashes_.erase(e.path);
        }
        break;
      }
      default:  // a delete, a rescan, an unmount: a change whatever the bytes
        hashes_.erase(e.path);
        same = false;
        break;
    }
  }
  return same;
}

void Runner::act(std::vector<Event> batch, std::int64_t now_ms) {
  if (stopping_) return;
  if (opt_.skip_unchanged && !batch.empty() && unchanged(batch)) {
    ++stats_.skipped;
    log_action("skip", batch, 0, std::nullopt, 0);
    return;
  }
  switch (opt_.action) {
    case ActionKind::signal:
      signal_targets(batch);
      if (opt_.once) done_ = true;
      return;
    case ActionKind::post:
      posting_.insert(posting_.end(), batch.begin(), batch.end());
      if (!post_pending_) {
        post_pending_ = true;
        post_tries_ = 0;
        try_post(now_ms);
      }
      return;
    case ActionKind::restart:
      if (now_ms < not_before_ms_) {
        // Crash loop: start once the backoff is over, with everything that came meanwhile.
        held_.insert(held_.end(), batch.begin(), batch.end());
        held_run_ = true;
        return;
      }
      spawn(batch, now_ms, "restart");
      return;
    case ActionKind::command:
      break;
  }
  if (!child_ || !child_->running()) {
    spawn(batch, now_ms, "run");
    return;
  }
  switch (opt_.on_busy) {
    case OnBusy::queue:
      // One more run after this one, over everything that came meanwhile.
      if (queued_run_) ++stats_.coalesced;
      queued_.insert(queued_.end(), batch.begin(), batch.end());
      queued_run_ = true;
      log_action("queue", batch, child_->pid(), std::nullopt, 0);
      return;
    case OnBusy::restart:
      spawn(batch, now_ms, "restart");
      return;
    case OnBusy::signal:
      child_->signal_group(opt_.signal);
      ++stats_.actions;
      say("sent " + proc::signal_name(opt_.signal) + " to the running command (pid " +
          std::to_string(child_->pid()) + ")");
      log_action("signal", batch, child_->pid(), std::nullopt, 0);
      return;
    case OnBusy::ignore:
      ++stats_.skipped;
      log_action("ignore", batch, child_->pid(), std::nullopt, 0);
      return;
  }
}

void Runner::spawn(const std::vector<Event>& batch, std::int64_t now_ms, const char* why) {
  if (child_ && child_->running()) {
    // Never two at once: the old one is gone (reaped) before the new one starts.
    const pid_t old = child_->pid();
    int status = child_->stop(opt_.stop_signal, std::chrono::milliseconds(opt_.stop_timeout_ms));
    say("stopped pid " + std::to_string(old) + " (" + proc::describe_status(status) + ")");
    log_action("stop", running_batch_, old, status, now_ms - started_ms_);
  }
  child_.reset();
  delivery_.reset();
  auto prepared = BatchDelivery::prepare(opt_, batch);
  if (!prepared) {
    ++stats_.failed;
    say(prepared.error().message + "; the change is acted on at the next one");
    return;
  }
  delivery_.emplace(std::move(*prepared));
  auto child = proc::Child::spawn(delivery_->spawn());
  ++stats_.actions;
  if (!child) {
    ++stats_.failed;
    say(child.error().message);
    log_action(why, batch, 0, 127 << 8, 0);
    if (opt_.once) {
      exit_code_ = 127;
      done_ = true;
    }
    delivery_.reset();
    return;
  }
  child_.emplace(std::move(*child));
  running_batch_ = batch;
  started_ms_ = now_ms;
  log_action(why, batch, child_->pid(), std::nullopt, 0);
}

void Runner::on_exit(std::int64_t now_ms) {
  const int status = *child_->status();
  const std::int64_t ran_ms = now_ms - started_ms_;
  const pid_t pid = child_->pid();
  log_action("exit", running_batch_, pid, status, ran_ms);
  child_.reset();
  delivery_.reset();
  if (proc::exit_code_of(status) != 0) ++stats_.failed;
  if (opt_.once) {
    exit_code_ = proc::exit_code_of(status);
    done_ = true;
    return;
  }
  if (opt_.action == ActionKind::restart) {
    if (ran_ms < kQuickExitMs && proc::exit_code_of(status) != 0) {
      ++quick_exits_;
      std::int64_t backoff = std::min(kMaxBackoffMs, kFirstBackoffMs << std::min(quick_exits_ - 1, 10));
      not_before_ms_ = now_ms + backoff;
      say("the program exited at once (" + proc::describe_status(status) + ", " +
          std::to_string(quick_exits_) + " in a row); the next start waits " + std::to_string(backoff) +
          " ms");
    } else {
      quick_exits_ = 0;
      say("the program exited (" + proc::describe_status(status) + "); it starts again at the next change");
    }
    return;
  }
  if (proc::exit_code_of(status) != 0) say("the command failed (" + proc::describe_status(status) + ")");
  if (queued_run_) {
    queued_run_ = false;
    spawn(std::exchange(queued_, {}), now_ms, "run");
  }
}

void Runner::signal_targets(const std::vector<Event>& batch) {
  auto targets = find_targets(TargetSpec{opt_.pid, opt_.pid_file, opt_.pgrep_exact});
  ++stats_.actions;
  if (!targets) {
    ++stats_.failed;
    say(targets.error().message + "; no signal sent");
    log_action("signal", batch, 0, std::nullopt, 0);
    return;
  }
  for (pid_t pid : *targets) {
    if (::kill(pid, opt_.signal) != 0) {
      ++stats_.failed;
      say("cannot send " + proc::signal_name(opt_.signal) + " to pid " + std::to_string(pid) + ": " +
          std::strerror(errno));
    }
    log_action("signal", batch, pid, std::nullopt, 0);
  }
}

void Runner::try_post(std::int64_t now_ms) {
  if (!post_target_) return;
  ++post_tries_;
  const PostOutcome out = post_once(*post_target_, post_body(posting_), opt_.post_timeout_ms);
  const bool ok = opt_.expect_status != 0 ? out.status == opt_.expect_status
                                          : out.status >= 200 && out.status < 300;
  const std::string what = out.status != 0 ? "status " + std::to_string(out.status) : out.error;
  std::string extra = ",\"url\":";
  sink::append_json_string(opt_.post_url, extra);
  extra += ",\"http_status\":" + std::to_string(out.status) + ",\"tries\":" + std::to_string(post_tries_);
  if (ok) {
    ++stats_.actions;
    log_action("post", posting_, 0, std::nullopt, 0, extra);
    posting_.clear();
    post_pending_ = false;
    if (opt_.once) done_ = true;
    return;
  }
  if (post_tries_ > opt_.retries) {
    ++stats_.actions;
    ++stats_.failed;
    say("POST " + opt_.post_url + " failed (" + what + ") after " + std::to_string(post_tries_) +
        " tries; " + std::to_string(changed_paths(posting_).size()) + " changes not delivered");
    log_action("post_failed", posting_, 0, std::nullopt, 0, extra);
    posting_.clear();
    post_pending_ = false;
    if (opt_.once) {
      exit_code_ = 1;
      done_ = true;
    }
    return;
  }
  const std::int64_t backoff = std::min<std::int64_t>(30000, 500LL << std::min(post_tries_ - 1, 10));
  say("POST " + opt_.post_url + " failed (" + what + "); try " + std::to_string(post_tries_ + 1) + " of " +
      std::to_string(opt_.retries + 1) + " in " + std::to_string(backoff) + " ms");
  next_try_ms_ = now_ms + backoff;
}

void Runner::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (child_ && child_->running()) {
    const pid_t pid = child_->pid();
    int status = child_->stop(opt_.stop_signal, std::chrono::milliseconds(opt_.stop_timeout_ms));
    log_action("stop", running_batch_, pid, status, 0);
    if (opt_.once) exit_code_ = proc::exit_code_of(status);  // stopped during its one run
  }
  child_.reset();
  delivery_.reset();
}

void Runner::log_action(const char* kind, const std::vector<Event>& batch, pid_t pid,
                        std::optional<int> status, std::int64_t duration_ms, const std::string& extra) {
  if (!json_log_) return;
  const std::vector<std::string> paths = changed_paths(batch);
  std::string line = "{\"time\":\"" + rfc3339_now() + "\",\"action\":\"" + kind + "\",\"count\":" +
                     std::to_string(paths.size()) + ",\"paths\":[";
  std::size_t shown = 0;
  for (const std::string& p : paths) {
    if (shown++ == 10) break;  // the first ten; "count" says how many
    if (shown > 1) line += ",";
    sink::append_json_string(p, line);
  }
  line += "]";
  if (pid > 0) line += ",\"pid\":" + std::to_string(pid);
  if (status) {
    line += ",\"exit_status\":" + std::to_string(proc::exit_code_of(*status)) + ",\"duration_ms\":" +
            std::to_string(duration_ms);
  }
  line += extra;
  line += ",\"coalesced\":" + std::to_string(stats_.coalesced) + ",\"skipped\":" +
          std::to_string(stats_.skipped) + "}\n";
  std::fputs(line.c_str(), json_log_);
  std::fflush(json_log_);
}

}  // namespace lookout::run
