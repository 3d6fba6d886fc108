// `lookout history`: parses flags into ingest::HistoryOptions and words errors; the work is
// ingest::history().
//   lookout history [--json] [--since DURATION|TIME] [--status S] [--path GLOB] [--show ID]
//                   (--journal FILE | DIR)
// Exit codes: 0 printed (also when nothing matched); 1 for bad arguments or an unreadable
// journal (one line on stderr naming it).
#include "lookout/commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "diagnostic_words.h"
#include "ingest/history.h"
#include "ingest/ingest_options.h"

namespace lookout::cmd {

class HistoryCommand final : public Command {
 public:
  explicit HistoryCommand(CLI::App& app);
  ~HistoryCommand();
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct HistoryCommand::Options {
  std::string journal, dir, since, status, path;
  bool json = false;
  std::int64_t show = 0;
};

HistoryCommand::HistoryCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand("history", "Show what `lookout ingest` did: its journal as a table or JSON Lines");
  Options& o = *o_;
  sub_->add_option("dir", o.dir, "The ingest directory (its journal is DIR/.lookout/journal.sqlite)");
  sub_->add_option("--journal", o.journal, "The journal file");
  sub_->add_flag("--json", o.json, "One JSON object per row (the journal's column names)");
  sub_->add_option("--since", o.since, "Rows first seen since DURATION ago (1h, 30m) or TIME (2026-12-06T02:00:00Z, UTC)");
  sub_->add_option("--status", o.status, "Only rows with this status")
      ->check(CLI::IsMember({"ok", "failed", "pending", "running"}));
  sub_->add_option("--path", o.path, "Only paths matching GLOB (absolute, or relative to DIR)");
  sub_->add_option("--show", o.show, "One row with everything in it, its stored content too");
}

HistoryCommand::~HistoryCommand() = default;

int HistoryCommand::run(const ProcessStart& /*start*/) {
  const Options& o = *o_;
  auto fail = [](const std::string& m) {
    std::fprintf(stderr, "lookout history: %s\n", m.c_str());
    return 1;
  };
  if (o.journal.empty() && o.dir.empty()) return fail("name the journal: --journal FILE (or the ingest DIR)");
  ingest::HistoryOptions h;
  h.journal = o.journal.empty() ? ingest::default_journal(o.dir) : o.journal;
  h.json = o.json;
  h.status = o.status;
  h.path_glob = o.path;
  h.show_id = o.show;
  if (o.show < 0) return fail("--show: an id is a positive number");
  if (!o.since.empty()) {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    auto bound = ingest::since_bound(o.since, static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec);
    if (!bound) return fail("--since: '" + o.since + "' is neither a duration (1h, 30m) nor a time (2026-12-06T02:00:00Z)");
    h.since = *bound;
  }
  auto r = ingest::history(h, stdout);
  if (!r) return fail(diagnostic_words(r.error()));
  return *r;
}

std::unique_ptr<Command> make_history_command(CLI::App& app) { return std::make_unique<HistoryCommand>(app); }

}  // namespace lookout::cmd
