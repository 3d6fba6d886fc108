// `lookout watch`: inotifywait-compatible output (or JSON Lines) for every change under the
// given paths. The watcher's loop runs on its own thread; this thread formats and writes
// batches; a third waits for SIGINT/SIGTERM and asks the loop to stop, after which what is
// pending is flushed and the exit code is 0.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <cstring>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <poll.h>
#include <syslog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <climits>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "lookout/commands.h"
#include "diagnostic_words.h"
#include "engine_flags.h"
#include "lookout/watcher.h"
#include "sink/event_writer.h"
#include "sink/inotifywait_format.h"
#include "sink/json_format.h"
#include "host/host.h"
#include "path_args.h"
#include "sys/path_text.h"

namespace lookout::cmd {

class WatchCommand final : public Command {
 public:
  explicit WatchCommand(CLI::App& app);
  ~WatchCommand();
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct WatchCommand::Options {
  std::vector<std::string> paths;
  bool monitor = false;
  bool recursive = false;
  bool no_dereference = false;
  bool daemon = false, syslog = false;
  std::vector<std::string> events;
  int quiet = 0;
  std::string format, timefmt, outfile, fromfile;
  bool csv = false, json = false, json_stat = false, nul = false, no_newline = false, ready = false;
  int timeout = 0;
  bool verbose = false;
  EngineFlags engine;  // --backend, --poll*, --state*, filters, ...: shared by every front end
};

WatchCommand::WatchCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand("watch", "Print every change under the given paths (inotifywait-compatible)");
  auto& o = *o_;
  sub_->add_option("paths", o.paths, "Files or directories to watch; @PATH excludes PATH");
  sub_->add_flag("-m,--monitor", o.monitor, "Keep running after the first event");
  sub_->add_flag("-r,--recursive", o.recursive, "Watch directories recursively");
  sub_->add_flag("-P,--no-dereference", o.no_dereference, "Watch a symlinked root itself, not its target");
  sub_->add_flag("-d,--daemon", o.daemon,
                 "Like -m, but go to the background once the watches are live (needs -o; implies -s)");
  sub_->add_flag("-s,--syslog", o.syslog, "Send errors to syslog instead of stderr");
  sub_->add_option("-e,--event", o.events,
                   "Events to report (inotifywait names: access modify attrib close_write "
                   "close_nowrite close open moved_to moved_from move move_self create delete "
                   "delete_self unmount); default: all but open/access/close_nowrite")
      ->allow_extra_args(false);
  sub_->add_flag("-q,--quiet", o.quiet, "Less output on stderr (twice: only errors)");
  sub_->add_option("--format", o.format, "printf-like: %w %f %e %Xe %c %T %0 %n");
  sub_->add_option("--timefmt", o.timefmt, "strftime format for %T");
  sub_->add_flag("-c,--csv", o.csv, "CSV output");
  sub_->add_flag("--json", o.json, "JSON Lines output (see README for the schema); implies -m");
  sub_->add_flag("--json-stat", o.json_stat,
                 "With --json: add each entry's dev, ino, size and mtime_ns when known");
  sub_->add_flag("-0,--null", o.nul, "End each record with NUL instead of newline");
  sub_->add_flag("--no-newline", o.no_newline, "Do not end --format records with a newline");
  sub_->add_flag("--ready", o.ready, "Print READY once every watch is live");
  sub_->add_option("-t,--timeout", o.timeout, "Exit with 2 if no event comes within N seconds (0: never)");
  sub_->add_option("-o,--outfile", o.outfile, "Append events to FILE instead of stdout");
  sub_->add_option("--fromfile", o.fromfile, "Read paths (and @excludes) from FILE, - for stdin");
  add_engine_flags(*sub_, o.engine);
  sub_->add_flag("-v,--verbose", o.verbose, "Say what the engine does (rescans, ...)");
}

WatchCommand::~WatchCommand() = default;

namespace {

// Events the loop thread takes and writes itself at once (see InlineOutput): a quiet tree's
// changes come a few at a time; a burst's larger batches go to this thread, which formats and
// writes them while the loop goes on reading the kernel.
constexpr std::size_t kInlineEvents = 64;
// Events this thread takes, formats and writes at a time when it is behind. Taking the whole
// backlog (up to --max-pending) at once copied 65,536 cache-cold events and built a
// multi-megabyte buffer per write: with a slow reader in a 100,000-create burst this thread
// spent 0.12-0.19 s; in slices of 4,096, 0.05-0.07 s (bench/README.md, fifth round).
constexpr std::size_t kTakeEvents = 4096;

std::uint32_t in_bits_to_kinds_mask(std::uint32_t in) {
  EventMask m = event_bit(EventKind::rescan) | event_bit(EventKind::unmount) | event_bit(EventKind::backend);
  if (in & IN_MODIFY) m |= event_bit(EventKind::modify);
  if (in & IN_CLOSE_WRITE) m |= event_bit(EventKind::close_write);
  if (in & IN_ATTRIB) m |= event_bit(EventKind::attrib);
  if (in & IN_OPEN) m |= event_bit(EventKind::open);
  if (in & IN_ACCESS) m |= event_bit(EventKind::access);
  if (in & IN_CLOSE_NOWRITE) m |= event_bit(EventKind::close_nowrite);
  if (in & (IN_CREATE | IN_MOVED_TO)) m |= event_bit(EventKind::create);
  if (in & (IN_DELETE | IN_MOVED_FROM)) m |= event_bit(EventKind::remove);
  if (in & IN_DELETE_SELF) m |= event_bit(EventKind::delete_self);
  if (in & IN_MOVE_SELF) m |= event_bit(EventKind::move_self);
  if (in & (IN_MOVED_FROM | IN_MOVED_TO)) m |= event_bit(EventKind::rename);
  return m;
}

// The root as the engine names it in events: absolute, by text.
std::string normalized_abs(const std::string& p) {
  if (!p.empty() && p[0] == '/') return sys::absolute_path("", p);
  char cwd[PATH_MAX];
  return sys::absolute_path(::getcwd(cwd, sizeof cwd) ? cwd : "", p);
}

// Argument checks CLI11 cannot express; the first problem as one line naming the option,
// empty when all is well. Combinations follow inotifywait's rules (and its words); the
// engine's flags are checked last, by their shared definition.
std::string check_arguments(const WatchCommand::Options& o, const CLI::App& sub) {
  for (const auto& p : o.paths) {
    if (p.empty()) return "an empty path was given; name a file or directory ('.' for the current one)";
  }
  for (const auto& e : o.events) {
    if (e.find_first_not_of(", ") == std::string::npos) {
      return "-e/--event '" + e + "' names no event; give one or more of: access modify attrib "
             "close_write close_nowrite close open moved_to moved_from move move_self create "
             "delete delete_self unmount";
    }
  }
  const bool format = sub.count("--format") > 0, timefmt = sub.count("--timefmt") > 0;
  if (o.csv && format) return "-c and --format cannot both be specified";
  if (o.json && format) return "--json and --format cannot both be specified";
  if (o.json && o.csv) return "--json and -c/--csv cannot both be specified";
  if (o.json_stat && !o.json) return "--json-stat needs --json";
  if (o.json && timefmt) return "--json and --timefmt cannot both be specified (JSON times are RFC 3339)";
  if (timefmt && !format) return "--timefmt cannot be specified without --format";
  if (timefmt && o.format.find("%T") == std::string::npos) {
    return "--timefmt was given but --format has no %T to use it";
  }
  if (!timefmt && o.format.find("%T") != std::string::npos) {
    return "%T is in --format string, but --timefmt was not specified";
  }
  if (o.timeout < 0) return "-t/--timeout: " + std::to_string(o.timeout) + " is negative; give seconds, or 0 for none";
  return check_engine_flags(o.engine);
}

}  // namespace

int WatchCommand::run(const ProcessStart& start) {
  auto& o = *o_;
  // -s: messages go to syslog(3) instead of stderr; -d implies it once in the background
  // (stderr is /dev/null there), as inotifywait does.
  // Outlives the watcher (declared first), whose loop thread calls on_diagnostic.
  std::atomic<bool> to_syslog{o.syslog};
  auto say = [&to_syslog](const std::string& msg, int priority) {
    if (to_syslog.load()) {
      ::syslog(priority, "%s", msg.c_str());
    } else {
      std::fprintf(stderr, "lookout watch: %s\n", msg.c_str());
    }
  };
  if (o.syslog || o.daemon) ::openlog("lookout watch", LOG_PID, LOG_USER);
  auto err = [&](const std::string& msg) {
    say(msg, LOG_ERR);
    return 1;
  };
  if (std::string bad = check_arguments(o, *sub_); !bad.empty()) return err(bad);
  // JSON Lines is a stream: one record and exit would surprise (inotifywait's rule is kept
  // for its own formats).
  if (o.json) o.monitor = true;
  if (start.stdout_closed && o.outfile.empty()) {
    return err("standard output is closed; use -o FILE (or redirect it, e.g. >/dev/null)");
  }
  WatchOptions wo;
  auto path_args = read_path_args(o.paths, o.fromfile);
  if (!path_args) return err(path_args.error().message);
  wo.paths = path_args->watch;
  wo.exclude_paths = path_args->exclude;
  if (wo.paths.empty()) return err("no path to watch; usage: lookout watch [-m] [-r] PATH...");
  const BackendChoice backend = o.engine.backend_choice();
  const bool inotify_only = backend != BackendChoice::poll && backend != BackendChoice::fanotify;
  if (o.no_dereference && !inotify_only) {
    // Polling stats roots and a fanotify mark is placed through the path: both follow links.
    for (auto& p : wo.paths) {
      struct stat st;
      if (::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
        return err(p + " is a symlink and -P watches links only with inotify; drop --backend " +
                   (o.engine.poll ? std::string("poll") : o.engine.backend) + " or -P");
      }
    }
  }
  wo.follow_root_symlinks = !o.no_dereference;
  if (o.daemon && o.outfile.empty()) {
    return err("--daemon needs --outfile FILE (its output cannot go to a terminal)");
  }
  const bool monitor = o.monitor || o.daemon;
  std::uint32_t in_events = 0;
  if (!o.events.empty()) {
    auto parsed = sink::parse_inotify_event_names(o.events);
    if (!parsed) return err(diagnostic_words(parsed.error()));
    in_events = *parsed;
    wo.events = in_bits_to_kinds_mask(in_events);
  }
  wo.recursive = o.recursive;
  if (std::string bad = fill_watch_options(o.engine, wo); !bad.empty()) return err(bad);
  wo.drop_own_writes = true;  // this process writes only its output and its state
  // Only --json-stat prints a write's stat: otherwise the engine reads it later, once for
  // many writes (docs/design.md "Deferred write stats").
  wo.stat_writes = o.json_stat;
  const bool verbose = o.verbose;
  const int quiet = o.quiet;
  wo.on_diagnostic = [verbose, quiet, say](const Error& e, bool fatal) {
    // Code ok: what the engine decided (backend choices); the rest are warnings.
    bool info = e.code == ErrorCode::ok && !fatal;
    if (fatal || (info ? verbose : quiet < 2)) say(diagnostic_words(e), fatal ? LOG_ERR : info ? LOG_INFO : LOG_WARNING);
  };

  int out_fd = STDOUT_FILENO;
  std::string out_name = "standard output";
  if (!o.outfile.empty()) {
    out_fd = ::open(o.outfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      return err("cannot open --outfile " + o.outfile + ": " + std::strerror(errno) +
                 " (check the directory exists and is writable)");
    }
    out_name = o.outfile;
  }

  // -d: fork here, before the watcher exists, and let the parent exit 0 only once the
  // child says its watches are live (a byte on a pipe), or with the child's own exit code
  // (its error went to stderr, still the caller's) if it failed. Forking after start()
  // instead would keep the inotify fd but break two things: start() records the pid whose
  // own writes fanotify drops (the -o file in the tree would feed back), and polling's
  // parallel scan may use threads, which do not survive fork.
  int ready_fd = -1;
  if (o.daemon) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return err(std::string("pipe: ") + std::strerror(errno));
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child < 0) return err(std::string("fork: ") + std::strerror(errno));
    if (child > 0) {
      ::close(p[1]);
      char c;
      ssize_t n;
      while ((n = ::read(p[0], &c, 1)) < 0 && errno == EINTR) {
      }
      if (n == 1) return 0;
      int status = 0;
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    }
    ::close(p[0]);
    ready_fd = p[1];
    ::setsid();  // no controlling terminal: a hangup of the caller's session does not stop it
  }
  auto created = Watcher::create(wo);
  if (!created) return err(diagnostic_words(created.error()));
  std::unique_ptr<Watcher> watcher = std::move(*created);
  // SIGINT/SIGTERM/SIGHUP from here on come through the host's signalfd; one during the
  // crawl stops it (start() returns `interrupted`).
  // The loop thread writes a small batch itself when the output can take it at once (see
  // Subscription::set_inline_taker): the latency of one thread, as inotifywait's, instead of
  // a wake-up of this one. Armed once the formatter exists and READY is out; this thread
  // takes and writes the rest under the same mutex, so the order of records is kept.
  // Declared before the host, so it outlives the loop thread (the host joins it); what the
  // taker formats with is made later, so it is used only while `armed`, set and cleared
  // under `mu` (see InlineDisarm below).
  struct InlineOutput {
    Subscription* sub = nullptr;
    std::mutex mu;
    bool armed = false;          // guarded by mu
    std::function<bool()> take;  // called with mu held
    ~InlineOutput() {
      if (sub) sub->set_inline_taker({});  // the loop has stopped: the host went first
    }
  } inline_out;
  if (monitor && o.timeout <= 0) {
    inline_out.sub = watcher->primary();
    inline_out.sub->set_inline_taker([&io = inline_out] {
      std::unique_lock lock(io.mu, std::try_to_lock);
      // Not when this thread is writing (it takes the rest), nor before or after the output.
      return lock.owns_lock() && io.armed && io.take();
    });
  }
  host::Host host(*watcher);

  if (quiet == 0) {
    std::fprintf(stderr, o.recursive ? "Setting up watches.  Beware: since -r was given, this may take a while!\n"
                                     : "Setting up watches.\n");
  }
  if (auto started = host.start(); !started) {
    // Stopped by SIGINT/SIGTERM before the watches were live: as a signal-ended watch, 0.
    if (started.error().code == ErrorCode::interrupted) return 0;
    return err(diagnostic_words(started.error()));
  }
  if (quiet == 0) std::fprintf(stderr, "Watches established.\n");
  if (ready_fd >= 0) {
    // Live: release the caller, then let go of its terminal and pipes. The working
    // directory stays (as inotifywait's): relative paths were resolved by start(), and
    // -o is already open.
    std::fflush(stderr);
    (void)!::write(ready_fd, "1", 1);
    ::close(ready_fd);
    to_syslog.store(true);
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      for (int fd = 0; fd <= 2; ++fd) {
        if (fd != out_fd) ::dup2(null_fd, fd);
      }
      if (null_fd > 2) ::close(null_fd);
    }
  }

  sink::InotifywaitOptions fo;
  fo.format = o.format;
  fo.timefmt = o.timefmt;
  fo.csv = o.csv;
  fo.nul = o.nul;
  fo.no_newline = o.no_newline;
  fo.events = in_events;
  for (const auto& p : wo.paths) fo.roots.emplace_back(normalized_abs(p), p);
  sink::InotifywaitFormat text(fo);
  sink::EventWriter writer(out_fd);
  const char term = o.nul ? '\0' : '\n';

  std::string buf;
  if (o.json) {
    sink::format_json_control("ready", buf);
    buf.push_back(term);
  } else if (o.ready) {
    buf += "READY";
    buf.push_back(term);
  }
  if (auto w = writer.flush(buf, out_name); !w) return err(w.error().message);

  // Formats `batch` into buf; returns how many events printed something. Without -m it
  // stops after the first one that did.
  auto format_batch = [&](const std::vector<Event>& batch) {
    std::size_t printed = 0;
    for (const auto& e : batch) {
      std::size_t before = buf.size();
      if (o.json) {
        if (!(wo.events & event_bit(e.kind))) continue;
        sink::format_json(e, buf, o.json_stat);
        buf.push_back(term);
      } else {
        text.format(e, buf);
      }
      // Backend records describe the watch, not a change: they never end a non -m watch.
      if (buf.size() > before && e.kind != EventKind::backend) ++printed;
      if (!monitor && printed > 0) break;
    }
    return printed;
  };

  int exit_code = 0;
  Subscription& events = *watcher->primary();
  const int events_fd = events.fd();
  std::optional<Error> inline_error;  // a write the loop thread could not make (guarded by inline_out.mu)
  std::vector<Event> inline_batch;
  inline_out.take = [&]() -> bool {
    if (inline_error) return false;  // the consumer's thread reports it
    // Never block the loop: only a write that fits the output now (a pipe that polls
    // writable has room for PIPE_BUF bytes; a file or /dev/null always has).
    pollfd p{out_fd, POLLOUT, 0};
    if (::poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return false;
    inline_batch.clear();
    const bool more = events.try_take(inline_batch, kInlineEvents);
    format_batch(inline_batch);
    if (buf.size() > PIPE_BUF) return false;  // left in buf: this thread writes it first
    if (!buf.empty()) {
      if (auto w = writer.flush(buf, out_name); !w) {
        inline_error = w.error();
        return false;
      }
    }
    // Fewer than asked for: the log ran out, so nothing is left for the other thread.
    return more && inline_batch.size() < kInlineEvents;
  };
  // Disarmed under inline_out.mu before anything the taker uses goes (on every way out of here), so
  // the loop thread, still running until the host is gone, never touches it after.
  struct InlineDisarm {
    std::mutex& mu;
    bool& armed;
    ~InlineDisarm() {
      std::lock_guard lock(mu);
      armed = false;
    }
  } disarm{inline_out.mu, inline_out.armed};
  {
    std::lock_guard lock(inline_out.mu);
    inline_out.armed = true;
  }
  auto last_event = std::chrono::steady_clock::now();
  std::vector<Event> batch;
  for (;;) {
    int wait_ms = -1;
    if (o.timeout > 0) {
      auto left = std::chrono::seconds(o.timeout) - (std::chrono::steady_clock::now() - last_event);
      wait_ms = static_cast<int>(std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(left).count()));
    }
    auto wake = host.wait(std::span<const int>(&events_fd, 1), wait_ms);
    if (wake.signal != 0) break;  // SIGINT/SIGTERM/SIGHUP: stop, flush what is pending, exit 0
    std::lock_guard out_lock(inline_out.mu);
    if (inline_error) {
      if (inline_error->sys_errno != EPIPE) exit_code = err(inline_error->message);
      break;
    }
    batch.clear();
    bool more = events.try_take(batch, kTakeEvents);
    std::size_t printed = format_batch(batch);
    if (!buf.empty()) {
      if (auto w = writer.flush(buf, out_name); !w) {
        if (w.error().sys_errno != EPIPE) exit_code = err(w.error().message);
        break;
      }
    }
    if (printed > 0) {
      last_event = std::chrono::steady_clock::now();
      if (!monitor) break;
    }
    if (!more) break;
    if (o.timeout > 0 && std::chrono::steady_clock::now() - last_event >= std::chrono::seconds(o.timeout)) {
      exit_code = 2;
      break;
    }
  }
  {
    // The loop thread writes nothing from here on: the rest is drained below, in order.
    std::lock_guard out_lock(inline_out.mu);
    inline_out.armed = false;
  }
  host.stop();
  // Drain what the loop produced while stopping.
  if (exit_code == 0 && monitor) {
    batch.clear();
    while (events.try_take(batch) && !batch.empty()) {
      format_batch(batch);
      batch.clear();
      if (!writer.flush(buf, out_name)) break;
    }
  }
  Error end = watcher->end_reason();
  if (!end.message.empty() && exit_code == 0) exit_code = 1;
  return exit_code;
}

std::unique_ptr<Command> make_watch_command(CLI::App& app) { return std::make_unique<WatchCommand>(app); }

}  // namespace lookout::cmd
