// `lookout ingest`: parses flags into ingest::IngestOptions and words errors; the work is
// ingest::run().
//   lookout ingest [OPTIONS] DIR -- COMMAND [ARG...]
//   lookout ingest [OPTIONS] DIR --store
// Exit codes: 0 after SIGINT/SIGTERM; 1 for bad arguments, when it cannot start (one line on
// stderr naming the path or option and the fix) or after the journal could not be written.
#include "lookout/commands.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batch/duration.h"
#include "diagnostic_words.h"
#include "duration_flags.h"
#include "size_flags.h"
#include "engine_flags.h"
#include "ingest/ingest.h"

namespace lookout::cmd {

class IngestCommand final : public Command {
 public:
  explicit IngestCommand(CLI::App& app);
  ~IngestCommand();
  bool takes_program() const override { return true; }
  void set_program(std::vector<std::string> words) override;
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct IngestCommand::Options {
  EngineFlags engine;
  std::string dir;
  std::vector<std::string> command;  // after "--"
  bool recursive = false, no_default_ignores = false, shell = false, stdin_content = false, store = false;
  std::string store_max = "16M";
  std::vector<std::string> match;
  std::string journal;
  bool reset_journal = false;
  std::string settle = "500ms";
  bool settle_moves = false;
  int jobs = 1, retries = 0;
  std::string timeout = "0", kill_after = "5s", retry_delay = "1s", stop_timeout = "30s";
  std::string done_dir, failed_dir;
  bool delete_done = false, json = false, ready = false, quiet = false;
};

IngestCommand::IngestCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand("ingest",
                            "Process each file dropped into DIR exactly once, when it is complete, and keep a "
                            "journal (lookout ingest DIR -- COMMAND [ARG...] | DIR --store)");
  Options& o = *o_;
  sub_->add_option("dir", o.dir, "The directory files are dropped into");
  sub_->add_flag("-r,--recursive", o.recursive, "Also take files in subdirectories");
  sub_->add_flag("--store", o.store, "No COMMAND: keep each file's content in the journal");
  sub_->add_option("--store-max", o.store_max, "Largest content --store keeps (default 16M; K, M, G)");
  sub_->add_flag("--shell", o.shell, "Run COMMAND with /bin/sh -c; {} stands for the quoted path (\"$1\")");
  sub_->add_flag("--stdin", o.stdin_content, "Give the file's content on COMMAND's stdin");
  sub_->add_option("--match", o.match, "Take only names or relative paths matching GLOB (repeatable)");
  sub_->add_flag("--no-default-ignores", o.no_default_ignores,
                 "Also take dotfiles and *.tmp, *.part, *.partial, *.swp (in-progress names)");
  sub_->add_option("--journal", o.journal, "The SQLite journal (default DIR/.lookout/journal.sqlite)");
  sub_->add_flag("--reset-journal", o.reset_journal, "Move the old journal aside (FILE.old-TIME) and start empty");
  sub_->add_option("--settle", o.settle, "A closed file is complete after this long unchanged (default 500ms)");
  sub_->add_flag("--settle-moves", o.settle_moves, "Also wait --settle for files renamed or moved in");
  sub_->add_option("-j,--jobs", o.jobs, "Handlers run in parallel (default 1)");
  sub_->add_option("--timeout", o.timeout, "Stop a handler after SEC seconds (or a duration: 90s, 2m); 0: never");
  sub_->add_option("--kill-after", o.kill_after, "After --timeout's TERM, KILL its process group this long later (default 5s)");
  sub_->add_option("--retries", o.retries, "Tries after a failed one (default 0)");
  sub_->add_option("--retry-delay", o.retry_delay, "Wait before the first retry, doubling after each (default 1s)");
  sub_->add_option("--stop-timeout", o.stop_timeout,
                   "On SIGTERM, wait this long for running handlers before stopping them (default 30s)");
  sub_->add_option("--done-dir", o.done_dir, "Move each file there after success (same filesystem)");
  sub_->add_flag("--delete", o.delete_done, "Delete each file after success");
  sub_->add_option("--failed-dir", o.failed_dir, "Move each file there after its last failed try");
  sub_->add_flag("--json", o.json, "One JSON line per processed file on stdout");
  sub_->add_flag("--ready", o.ready, "Print READY on stderr once watching and the files present are queued");
  sub_->add_flag("-q,--quiet", o.quiet, "Print no warnings from the watcher");
  add_engine_flags(*sub_, o.engine);
}

IngestCommand::~IngestCommand() = default;
void IngestCommand::set_program(std::vector<std::string> words) { o_->command = std::move(words); }

namespace {
int fail(const std::string& message) {
  std::fprintf(stderr, "lookout ingest: %s\n", message.c_str());
  return 1;
}
}  // namespace

int IngestCommand::run(const ProcessStart& /*start*/) {
  const Options& o = *o_;
  ingest::IngestOptions r;
  r.dir = o.dir;
  r.recursive = o.recursive;
  r.command = o.command;
  r.shell = o.shell;
  r.stdin_content = o.stdin_content;
  r.store = o.store;
  r.match = o.match;
  r.default_ignores = !o.no_default_ignores;
  r.journal = o.journal;
  r.reset_journal = o.reset_journal;
  r.settle_moves = o.settle_moves;
  r.jobs = o.jobs;
  r.retries = o.retries;
  r.done_dir = o.done_dir;
  r.failed_dir = o.failed_dir;
  r.delete_done = o.delete_done;
  r.json = o.json;
  r.ready = o.ready;
  auto max = parse_size(o.store_max);
  if (!max || *max == 0) return fail("--store-max: '" + o.store_max + "' is not a size (e.g. 16M, 512K, 1G)");
  r.store_max = *max;
  auto timeout = parse_seconds_or_duration(o.timeout);
  if (!timeout) return fail("--timeout: '" + o.timeout + "' is not a number of seconds or a duration (e.g. 30, 2m)");
  r.timeout_ms = *timeout;
  if (std::string bad = parse_duration_flags({{"--settle", o.settle, r.settle_ms},
                                                {"--kill-after", o.kill_after, r.kill_after_ms},
                                                {"--retry-delay", o.retry_delay, r.retry_delay_ms},
                                                {"--stop-timeout", o.stop_timeout, r.stop_timeout_ms}});
      !bad.empty()) {
    return fail(bad);
  }
  if (std::string bad = check_engine_flags(o.engine); !bad.empty()) return fail(bad);
  if (std::string bad = fill_watch_options(o.engine, r.watch); !bad.empty()) return fail(bad);
  if (std::string bad = ingest::check_ingest_options(r); !bad.empty()) return fail(bad);
  const bool quiet = o.quiet;
  const std::string journal = r.journal.empty() && !r.dir.empty() ? ingest::default_journal(r.dir) : r.journal;
  auto said_fatal = std::make_shared<std::atomic<bool>>(false);
  auto result = ingest::run(std::move(r), stderr, stdout, [quiet, said_fatal](const Error& e, bool fatal) {
    bool info = e.code == ErrorCode::ok && !fatal;
    if (fatal) said_fatal->store(true);
    if (fatal || (!info && !quiet)) std::fprintf(stderr, "lookout ingest: %s\n", diagnostic_words(e).c_str());
  });
  if (!result) {
    if (said_fatal->load()) return 1;
    const Error& e = result.error();
    // A journal that cannot be used as it is: say how to start over.
    if (e.code == ErrorCode::invalid_argument && !e.path.empty() && e.message.rfind("journal ", 0) == 0 &&
        e.message.find("(reset)") != std::string::npos) {
      std::string m = e.message.substr(0, e.message.find("; move it away"));
      return fail(m + "; move it away, or start over with --reset-journal (the old file is kept as " + journal +
                  ".old-TIME)");
    }
    return fail(diagnostic_words(e));
  }
  return *result;
}

std::unique_ptr<Command> make_ingest_command(CLI::App& app) { return std::make_unique<IngestCommand>(app); }

}  // namespace lookout::cmd
