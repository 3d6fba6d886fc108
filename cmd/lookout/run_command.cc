// `lookout run`: parses flags into run::RunOptions and words errors; the work is run::run().
//   lookout run [OPTIONS] PATH... -- COMMAND [ARG...]
//   lookout run [OPTIONS] PATH... --restart -- COMMAND [ARG...]
//   lookout run [OPTIONS] PATH... --signal SIG (--pid N | --pid-file FILE | --pgrep-exact NAME)
//   lookout run [OPTIONS] PATH... --post URL
// Exit codes: 0 after SIGINT/SIGTERM; with --once the action's status; 1 for bad arguments or
// when watching cannot start (one line on stderr naming the path or option and the fix).
#include "lookout/commands.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "diagnostic_words.h"
#include "duration_flags.h"
#include "engine_flags.h"
#include "proc/signal_names.h"
#include "run/path_list.h"
#include "run/run.h"

namespace lookout::cmd {

class RunCommand final : public Command {
 public:
  explicit RunCommand(CLI::App& app);
  ~RunCommand();
  bool takes_program() const override { return true; }
  void set_program(std::vector<std::string> words) override;
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct RunCommand::Options {
  EngineFlags engine;
  std::vector<std::string> paths;
  std::vector<std::string> command;  // after "--"
  bool no_recursive = false, allow_missing = false, no_default_ignores = false;
  std::vector<std::string> match;
  bool shell = false, arg_files = false, restart = false;
  std::string stdin_events, on_busy = "queue";
  std::string signal, stop_signal = "TERM", stop_timeout = "10s";
  pid_t pid = 0;
  std::string pid_file, pgrep_exact;
  std::string debounce = "100ms", max_wait = "2s", settle = "200ms";
  bool initial = false, once = false, ready = false, quiet = false;
  std::string log_json;
  std::string post, post_timeout = "5s";
  std::string files_from;
  bool null_list = false, skip_unchanged = false;
  int expect_status = 0, retries = 5;
};

RunCommand::RunCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand("run",
                            "Act on change: run, restart or signal a program after each batch of "
                            "complete changes (lookout run PATH... -- COMMAND [ARG...])");
  Options& o = *o_;
  sub_->add_option("paths", o.paths, "Files or directories to watch (a file is watched by name)");
  sub_->add_flag("--no-recursive", o.no_recursive, "Watch directories' own entries only");
  sub_->add_option("--files-from", o.files_from, "Also watch the paths listed in FILE, one a line ('-': stdin)");
  sub_->add_flag("-0,--null", o.null_list, "--files-from's paths are NUL-terminated");
  sub_->add_flag("--skip-unchanged", o.skip_unchanged,
                 "Do nothing when every changed file has the content (xxHash) it had at the last action");
  sub_->add_flag("--allow-missing", o.allow_missing, "A missing PATH is watched until it appears");
  sub_->add_option("--match", o.match, "Act only on names or relative paths matching GLOB (repeatable)");
  sub_->add_flag("--no-default-ignores", o.no_default_ignores,
                 "Also act on editor swap and backup files and on .git/.hg/.svn");
  sub_->add_flag("--shell", o.shell, "Run COMMAND with /bin/sh -c (changed paths are \"$@\" with --arg-files)");
  sub_->add_flag("--arg-files", o.arg_files, "Append the changed paths to COMMAND's arguments");
  sub_->add_option("--stdin-events", o.stdin_events, "Give the batch on COMMAND's stdin: json or null");
  sub_->add_option("--on-busy", o.on_busy, "While COMMAND runs: queue, restart, signal or ignore")
      ->check(CLI::IsMember({"queue", "restart", "signal", "ignore"}));
  sub_->add_flag("--restart", o.restart, "Keep COMMAND running (a server); restart it after each batch");
  sub_->add_option("--signal", o.signal, "Signal to send (HUP, SIGHUP or a number)");
  sub_->add_option("--pid", o.pid, "Signal mode: the process to signal");
  sub_->add_option("--pid-file", o.pid_file, "Signal mode: read the pid from FILE before every send");
  sub_->add_option("--pgrep-exact", o.pgrep_exact, "Signal mode: every process with this exact name");
  sub_->add_option("--stop-signal", o.stop_signal, "Signal that stops the program (default TERM)");
  sub_->add_option("--stop-timeout", o.stop_timeout, "Then KILL after this long (default 10s)");
  sub_->add_option("--debounce", o.debounce, "Act this long after the last change (default 100ms)");
  sub_->add_option("--max-wait", o.max_wait, "...but no later than this after the first (default 2s)");
  sub_->add_option("--settle", o.settle, "A file never closed counts as complete when quiet this long (default 200ms)");
  sub_->add_flag("--initial", o.initial, "Also act once at start");
  sub_->add_flag("--once", o.once, "Exit after the first action, with its exit status");
  sub_->add_flag("--ready", o.ready, "Print READY on stderr once every watch is live");
  sub_->add_flag("-q,--quiet", o.quiet, "Print no warnings from the watcher");
  sub_->add_option("--log-json", o.log_json, "Append one JSON line per action to FILE");
  sub_->add_option("--post", o.post, "HTTP mode: POST each batch as JSON to URL (http:// or https://)");
  sub_->add_option("--expect-status", o.expect_status, "HTTP mode: the status that means success (default: any 2xx)");
  sub_->add_option("--retries", o.retries, "HTTP mode: tries after a failed one, 0.5s apart doubling (default 5)");
  sub_->add_option("--post-timeout", o.post_timeout, "HTTP mode: how long one try may take (default 5s)");
  add_engine_flags(*sub_, o.engine);
}

RunCommand::~RunCommand() = default;
void RunCommand::set_program(std::vector<std::string> words) { o_->command = std::move(words); }

namespace {
int fail(const std::string& message) {
  std::fprintf(stderr, "lookout run: %s\n", message.c_str());
  return 1;
}
}  // namespace

int RunCommand::run(const ProcessStart& /*start*/) {
  const Options& o = *o_;
  run::RunOptions r;
  r.paths = o.paths;
  if (!o.files_from.empty()) {
    auto listed = run::read_path_list(o.files_from, o.null_list);
    if (!listed) return fail(listed.error().message);
    if (listed->empty()) return fail("--files-from " + o.files_from + " lists no path");
    r.paths.insert(r.paths.end(), listed->begin(), listed->end());
  }
  r.skip_unchanged = o.skip_unchanged;
  r.command = o.command;
  r.recursive = !o.no_recursive;
  r.allow_missing = o.allow_missing;
  r.match = o.match;
  r.default_ignores = !o.no_default_ignores;
  r.shell = o.shell;
  r.arg_files = o.arg_files;
  r.stdin_events = o.stdin_events;
  r.initial = o.initial;
  r.once = o.once;
  r.ready = o.ready;
  r.log_json = o.log_json;
  r.pid = o.pid;
  r.pid_file = o.pid_file;
  r.pgrep_exact = o.pgrep_exact;
  const bool signal_mode = o.pid > 0 || !o.pid_file.empty() || !o.pgrep_exact.empty();
  const bool post_mode = !o.post.empty();
  if (int modes = o.restart + signal_mode + post_mode; modes > 1) {
    return fail("choose one of --restart (run COMMAND), --signal with --pid/--pid-file/--pgrep-exact, or --post URL");
  }
  r.action = signal_mode ? run::ActionKind::signal
             : post_mode ? run::ActionKind::post
             : o.restart ? run::ActionKind::restart
                         : run::ActionKind::command;
  r.post_url = o.post;
  r.expect_status = o.expect_status;
  r.retries = o.retries;
  r.on_busy = o.on_busy == "restart" ? run::OnBusy::restart
              : o.on_busy == "signal" ? run::OnBusy::signal
              : o.on_busy == "ignore" ? run::OnBusy::ignore
                                      : run::OnBusy::queue;
  if (!o.signal.empty()) {
    auto sig = proc::parse_signal(o.signal);
    if (!sig) return fail("--signal: '" + o.signal + "' is not a signal (e.g. HUP, SIGUSR1, 10)");
    r.signal = *sig;
  } else if (signal_mode || r.on_busy == run::OnBusy::signal) {
    return fail(signal_mode ? "--pid, --pid-file and --pgrep-exact need --signal SIG"
                            : "--on-busy signal needs --signal SIG");
  }
  auto stop_sig = proc::parse_signal(o.stop_signal);
  if (!stop_sig) return fail("--stop-signal: '" + o.stop_signal + "' is not a signal (e.g. TERM, INT, 15)");
  r.stop_signal = *stop_sig;
  if (std::string bad = parse_duration_flags({{"--debounce", o.debounce, r.batch.debounce_ms},
                                                {"--max-wait", o.max_wait, r.batch.max_wait_ms},
                                                {"--settle", o.settle, r.batch.settle_ms},
                                                {"--stop-timeout", o.stop_timeout, r.stop_timeout_ms},
                                                {"--post-timeout", o.post_timeout, r.post_timeout_ms}});
      !bad.empty()) {
    return fail(bad);
  }
  if (std::string bad = check_engine_flags(o.engine); !bad.empty()) return fail(bad);
  if (std::string bad = fill_watch_options(o.engine, r.watch); !bad.empty()) return fail(bad);
  if (std::string bad = run::check_run_options(r); !bad.empty()) return fail(bad);
  const bool quiet = o.quiet;
  // The error that ends watching comes once as a diagnostic and once as run()'s result.
  auto said_fatal = std::make_shared<std::atomic<bool>>(false);
  auto result = run::run(std::move(r), stderr, [quiet, said_fatal](const Error& e, bool fatal) {
    bool info = e.code == ErrorCode::ok && !fatal;
    if (fatal) said_fatal->store(true);
    if (fatal || (!info && !quiet)) std::fprintf(stderr, "lookout run: %s\n", diagnostic_words(e).c_str());
  });
  if (!result) return said_fatal->load() ? 1 : fail(diagnostic_words(result.error()));
  return *result;
}

std::unique_ptr<Command> make_run_command(CLI::App& app) { return std::make_unique<RunCommand>(app); }

}  // namespace lookout::cmd
