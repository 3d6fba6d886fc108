// `lookout tail`: parses flags into tail::TailOptions and words errors; the work is
// tail::run().
//   lookout tail [OPTIONS] PATH...
// Exit codes: 0 after SIGINT/SIGTERM/SIGHUP or a finished --once; 1 for bad arguments, when
// it cannot start (one line on stderr naming the path or option and the fix) or when it had
// to stop (the output closed, the state could not be written).
#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diagnostic_words.h"
#include "duration_flags.h"
#include "size_flags.h"
#include "engine_flags.h"
#include "lookout/commands.h"
#include "tail/tail.h"

namespace lookout::cmd {

class TailCommand final : public Command {
 public:
  explicit TailCommand(CLI::App& app);
  ~TailCommand();
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct TailCommand::Options {
  EngineFlags engine;
  std::vector<std::string> paths, match;
  bool no_filename = false, json = false, null = false, once = false, ready = false,
       reset_state = false, quiet = false;
  std::string start_at = "beginning";
  std::string state;
  std::string commit_every = "1s", close_idle = "60s", deleted_close = "5s", partial_flush = "5s";
  std::uint64_t commit_lines = 10000;
  std::size_t max_open = 512;
  std::string max_line = "1M";
};

TailCommand::TailCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand(
      "tail",
      "Print every line appended to the files under PATH..., exactly once, across rotation "
      "and restarts (lookout tail [OPTIONS] PATH...)");
  Options& o = *o_;
  sub_->add_option("paths", o.paths,
                   "Files, directories (every file under them) or globs ('**' allowed)");
  sub_->add_option(
      "--match", o.match,
      "Under a directory, read only names or relative paths matching GLOB (repeatable)");
  sub_->add_flag("--no-filename", o.no_filename, "Print bare lines, without 'PATH:'");
  sub_->add_flag(
      "--json", o.json,
      "One JSON object per line: path, line (or line_b64), offset, size, dev, ino, time");
  sub_->add_flag("-0,--null", o.null, "End each record with NUL instead of a newline");
  sub_->add_option("--start-at", o.start_at,
                   "Where files present at the first start begin: beginning (default) or end")
      ->check(CLI::IsMember({"beginning", "end"}));
  sub_->add_flag("--once", o.once, "Read everything new since --state, then exit");
  sub_->add_flag("--ready", o.ready,
                 "Print READY on stderr once every watch is live and every file is open");
  sub_->add_option("--commit-every", o.commit_every,
                   "Commit offsets to --state this often (default 1s)");
  sub_->add_option("--commit-lines", o.commit_lines,
                   "... or after this many lines (default 10000)");
  sub_->add_option("--max-open", o.max_open, "Files held open at once (default 512)");
  sub_->add_option("--close-idle", o.close_idle,
                   "Close a file unchanged this long (default 60s); reopened on change");
  sub_->add_option("--deleted-close", o.deleted_close,
                   "Close a deleted file unchanged this long (default 5s), freeing its space");
  sub_->add_option(
      "--partial-flush", o.partial_flush,
      "Print a last line without newline after this long idle (default 5s), marked partial");
  sub_->add_option("--max-line", o.max_line,
                   "Split longer lines into marked pieces (default 1M; K, M)");
  sub_->add_flag("-q,--quiet", o.quiet, "Print no warnings from the watcher");
  add_engine_flags(*sub_, o.engine);
  // tail's --state is its offsets, not the engine's tree model.
  sub_->remove_option(sub_->get_option("--state"));
  sub_->remove_option(sub_->get_option("--state-reset"));
  sub_->add_option("--state", o.state,
                   "Keep each file's identity and committed offset in FILE (SQLite); resume there");
  sub_->add_flag("--reset-state", o.reset_state,
                 "A --state FILE that is corrupt or of other PATHs is moved aside (FILE.old-TIME) "
                 "and tail starts fresh");
}

TailCommand::~TailCommand() = default;

namespace {
int fail(const std::string& message) {
  std::fprintf(stderr, "lookout tail: %s\n", message.c_str());
  return 1;
}

}  // namespace

int TailCommand::run(const ProcessStart& /*start*/) {
  const Options& o = *o_;
  tail::TailOptions r;
  r.paths = o.paths;
  r.match = o.match;
  r.exclude_globs = o.engine.exclude_glob;
  r.format = o.json ? tail::OutputFormat::json : tail::OutputFormat::text;
  r.with_filename = !o.no_filename;
  r.null_terminated = o.null;
  r.start_at_end = o.start_at == "end";
  r.state = o.state;
  r.reset_state = o.reset_state;
  r.once = o.once;
  r.ready = o.ready;
  r.commit_lines = o.commit_lines;
  r.max_open = o.max_open;
  auto max_line = parse_size(o.max_line);
  if (!max_line || *max_line == 0 || *max_line > (1ull << 30)) {
    return fail("--max-line: '" + o.max_line + "' is not a size between 1 and 1G (e.g. 64K, 1M)");
  }
  r.max_line = static_cast<std::size_t>(*max_line);
  if (std::string bad =
          parse_duration_flags({{"--commit-every", o.commit_every, r.commit_every_ms},
                                {"--close-idle", o.close_idle, r.close_idle_ms},
                                {"--deleted-close", o.deleted_close, r.deleted_close_ms},
                                {"--partial-flush", o.partial_flush, r.partial_flush_ms}});
      !bad.empty()) {
    return fail(bad);
  }
  if (std::string bad = check_engine_flags(o.engine); !bad.empty()) return fail(bad);
  if (std::string bad = fill_watch_options(o.engine, r.watch); !bad.empty()) return fail(bad);
  if (std::string bad = tail::check_tail_options(r); !bad.empty()) return fail(bad);
  const bool quiet = o.quiet;
  auto said_fatal = std::make_shared<std::atomic<bool>>(false);
  auto result = tail::run(std::move(r), stderr, [quiet, said_fatal](const Error& e, bool fatal) {
    bool info = e.code == ErrorCode::ok && !fatal;
    // A root that goes away is handled by tail (read to the end, watched again when back).
    if (e.code == ErrorCode::root_gone) return;
    if (fatal) said_fatal->store(true);
    if (fatal || (!info && !quiet))
      std::fprintf(stderr, "lookout tail: %s\n", diagnostic_words(e).c_str());
  });
  if (!result) {
    const Error& e = result.error();
    if (said_fatal->load() && e.code != ErrorCode::io) return 1;
    std::string m = e.message;
    // A state that cannot be used as it is: say how to start over.
    if (auto at = m.find(" (reset)"); at != std::string::npos) {
      m = m.substr(0, at) +
          "; move it away, or start over with --reset-state (the old file is kept as "
          "FILE.old-TIME)";
    }
    return fail(m == e.message ? diagnostic_words(e) : m);
  }
  return *result;
}

std::unique_ptr<Command> make_tail_command(CLI::App& app) { return std::make_unique<TailCommand>(app); }

}  // namespace lookout::cmd
