// `lookout stats`: inotifywatch's options and table on lookout's engine; parses flags into
// stats::StatsOptions and words errors, the work is stats::run().
//   lookout stats [-r] [-e EVENT]... [-t SECONDS] [-a EVENT | -d EVENT] [--fromfile FILE]
//                 [-z] [--json] [--top N] [--interval SEC] [--files] [-q] PATH...
// Exit codes as inotifywatch's: 0, or 1 for bad arguments and when watching cannot start
// (one line on stderr naming the path or option and the fix).
#include <sys/inotify.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <climits>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "diagnostic_words.h"
#include "engine_flags.h"
#include "lookout/commands.h"
#include "path_args.h"
#include "sink/inotifywait_format.h"
#include "stats/stats.h"
#include "sys/path_text.h"

namespace lookout::cmd {

class StatsCommand final : public Command {
 public:
  explicit StatsCommand(CLI::App& app);
  ~StatsCommand();
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct StatsCommand::Options {
  EngineFlags engine;
  std::vector<std::string> paths;
  bool recursive = false, no_dereference = false, zero = false, json = false, files = false;
  int quiet = 0;
  std::vector<std::string> events;
  long timeout = 0;
  std::string ascending, descending, fromfile;
  std::size_t top = 0;
  double interval = 0;
};

StatsCommand::StatsCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand("stats", "Count events per directory for a while (inotifywatch-compatible)");
  auto& o = *o_;
  sub_->add_option("paths", o.paths, "Files or directories to watch; @PATH excludes PATH");
  sub_->add_flag("-r,--recursive", o.recursive, "Watch directories recursively");
  sub_->add_flag("-P,--no-dereference", o.no_dereference, "Watch a symlinked root itself, not its target");
  sub_->add_option("-e,--event", o.events,
                   "Count only these events (inotifywatch names: access modify attrib close_write "
                   "close_nowrite close open moved_to moved_from move move_self create delete "
                   "delete_self unmount); default: all")
      ->allow_extra_args(false);
  sub_->add_option("-t,--timeout", o.timeout, "Watch this many seconds, then print (0: until INT/TERM)");
  sub_->add_option("-a,--ascending", o.ascending, "Sort ascending by this event's count, or 'total'");
  sub_->add_option("-d,--descending", o.descending, "Sort descending by this event's count, or 'total' (default)");
  sub_->add_flag("-z,--zero", o.zero, "Keep rows and columns that are all zero");
  sub_->add_option("--fromfile", o.fromfile, "Read paths (and @excludes) from FILE, - for stdin");
  sub_->add_flag("--json", o.json, "JSON Lines: one object per row, then the totals");
  sub_->add_option("--top", o.top, "Only the N busiest rows");
  sub_->add_option("--interval", o.interval, "Also print the table every SEC seconds (cumulative)");
  sub_->add_flag("--files", o.files, "One row per file instead of per directory");
  sub_->add_flag("-q,--quiet", o.quiet, "No progress lines and no summary on stderr");
  add_engine_flags(*sub_, o.engine);
}

StatsCommand::~StatsCommand() = default;

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "lookout stats: %s\n", message.c_str());
  return 1;
}

stats::ColumnMask columns_for(std::uint32_t in) {
  using stats::Column;
  using stats::column_bit;
  static constexpr std::pair<std::uint32_t, Column> kBits[] = {
      {IN_ACCESS, Column::access},       {IN_MODIFY, Column::modify},
      {IN_ATTRIB, Column::attrib},       {IN_CLOSE_WRITE, Column::close_write},
      {IN_CLOSE_NOWRITE, Column::close_nowrite}, {IN_OPEN, Column::open},
      {IN_MOVED_FROM, Column::moved_from}, {IN_MOVED_TO, Column::moved_to},
      {IN_MOVE_SELF, Column::move_self}, {IN_CREATE, Column::create},
      {IN_DELETE, Column::remove},       {IN_DELETE_SELF, Column::delete_self},
      {IN_UNMOUNT, Column::unmount}};
  stats::ColumnMask m = 0;
  for (auto [bit, col] : kBits) {
    if (in & bit) m |= column_bit(col);
  }
  return m;
}

// -a/-d's EVENT: "total" (nullopt) or one counted column; inotifywatch's words otherwise.
std::string parse_sort(const std::string& name, stats::ColumnMask counted, std::optional<stats::Column>& out) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "total") return {};
  if (lower == "move") return "Cannot sort by `move' event; please use `moved_from' or `moved_to'.";
  if (lower == "close") return "Cannot sort by `close' event; please use `close_write' or `close_nowrite'.";
  auto bits = sink::parse_inotify_event_names({lower});
  stats::ColumnMask m = bits ? columns_for(*bits) : 0;
  if (!bits || m == 0 || (m & (m - 1)) != 0) return "'" + name + "' is not a valid key for sorting!";
  if (!(m & counted)) return "Can't sort by an event which isn't being watched for!";
  for (std::size_t i = 0; i < stats::kColumns; ++i) {
    if (m & stats::column_bit(static_cast<stats::Column>(i))) out = static_cast<stats::Column>(i);
  }
  return {};
}

}  // namespace

int StatsCommand::run(const ProcessStart& /*start*/) {
  const Options& o = *o_;
  stats::StatsOptions s;
  auto path_args = read_path_args(o.paths, o.fromfile);
  if (!path_args) return fail(path_args.error().message);
  if (path_args->watch.empty()) return fail("No files specified to watch! (usage: lookout stats [-r] PATH...)");
  for (const auto& p : path_args->watch) {
    if (p.empty()) return fail("an empty path was given; name a file or directory ('.' for the current one)");
  }
  s.watch.paths = path_args->watch;
  s.watch.exclude_paths = path_args->exclude;
  char cwd[PATH_MAX];
  const std::string here = ::getcwd(cwd, sizeof cwd) ? cwd : "";
  for (const auto& p : path_args->watch) s.spelled_roots.emplace_back(sys::absolute_path(here, p), p);
  if (!o.events.empty()) {
    auto bits = sink::parse_inotify_event_names(o.events);
    if (!bits) return fail(diagnostic_words(bits.error()));
    s.columns = columns_for(*bits);
    if (s.columns == 0) return fail("-e names no event inotifywatch counts");
  }
  if (!o.ascending.empty() && !o.descending.empty()) return fail("Please specify -a or -d once only!");
  if (!o.ascending.empty() || !o.descending.empty()) {
    s.ascending = !o.ascending.empty();
    if (std::string bad = parse_sort(s.ascending ? o.ascending : o.descending, s.columns, s.sort_by); !bad.empty()) {
      return fail(bad);
    }
  }
  if (o.timeout < 0) return fail("-t/--timeout: " + std::to_string(o.timeout) + " is negative; give seconds, or 0 for none");
  if (o.timeout > INT_MAX / 1000) return fail("-t/--timeout: " + std::to_string(o.timeout) + " is too long");
  if (std::string bad = check_seconds("--interval", o.interval, 0.1, 86400, true); !bad.empty()) return fail(bad);
  s.timeout_s = static_cast<int>(o.timeout);
  s.interval_s = o.interval;
  s.zero = o.zero;
  s.json = o.json;
  s.top = o.top;
  s.per_file = o.files;
  s.quiet = o.quiet > 0;
  s.watch.recursive = o.recursive;
  s.watch.follow_root_symlinks = !o.no_dereference;
  if (std::string bad = check_engine_flags(o.engine); !bad.empty()) return fail(bad);
  if (std::string bad = fill_watch_options(o.engine, s.watch); !bad.empty()) return fail(bad);
  s.watch.drop_own_writes = true;  // stats writes only its output: never count it
  const bool quiet = s.quiet;
  auto said_fatal = std::make_shared<std::atomic<bool>>(false);
  auto result = stats::run(std::move(s), stdout, stderr, [quiet, said_fatal](const Error& e, bool fatal) {
    bool info = e.code == ErrorCode::ok && !fatal;
    if (fatal) said_fatal->store(true);
    if (fatal || (!info && !quiet)) std::fprintf(stderr, "lookout stats: %s\n", diagnostic_words(e).c_str());
  });
  if (!result) return said_fatal->load() ? 1 : fail(diagnostic_words(result.error()));
  return *result;
}

std::unique_ptr<Command> make_stats_command(CLI::App& app) { return std::make_unique<StatsCommand>(app); }

}  // namespace lookout::cmd
