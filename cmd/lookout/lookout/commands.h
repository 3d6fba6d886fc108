// The subcommands. Each registers its options on the CLI11 app when made (main() makes only the
// one named, or all of them for `lookout --help`) and runs once parsed; only these decide exit
// codes.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace lookout::cmd {

// What main() found about the process before anything else ran.
struct ProcessStart {
  bool stdout_closed = false;  // fd 1 was closed at exec (now /dev/null)
};

class Command {
 public:
  virtual ~Command() = default;
  // The words after the first "--" (`run`, `ingest`: the program and its arguments), for the
  // commands that take a program; main() gives them before parsing the rest.
  virtual bool takes_program() const { return false; }
  virtual void set_program(std::vector<std::string> /*words*/) {}
  // After a successful parse: does the work, returns the exit code.
  virtual int run(const ProcessStart& start) = 0;
};

// The subcommands, each defined in cmd/lookout/NAME_command.cc; making one registers its
// options on `app`.
// `lookout watch`: inotifywait-compatible output of every change (see README).
std::unique_ptr<Command> make_watch_command(CLI::App& app);

// `lookout doctor [PATH...] [--json]`: what lookout would do for each path and why: the
// filesystem and its submounts, the backend auto mode picks, the directory count against the
// inotify watch budget, fanotify availability, whether this is a container, and advice.
// Exit code 0, or 1 when a path cannot be examined. Single-threaded.
std::unique_ptr<Command> make_doctor_command(CLI::App& app);

// `lookout run PATH... -- COMMAND [ARG...]`: act on change (see src/run/run.h). main()
// splits the arguments at the first "--": what follows is COMMAND, given by set_program().
std::unique_ptr<Command> make_run_command(CLI::App& app);

// `lookout stats [-r] [-e EVENT]... [-t SECONDS] PATH...`: inotifywatch's table of event
// counts per directory, on lookout's engine (see src/stats/stats.h).
std::unique_ptr<Command> make_stats_command(CLI::App& app);

// `lookout ingest DIR -- COMMAND [ARG...]` / `lookout ingest DIR --store`: each complete file
// dropped into DIR processed exactly once, with a journal (see src/ingest/ingest.h). main()
// splits the arguments at the first "--": what follows is COMMAND, given by set_program().
std::unique_ptr<Command> make_ingest_command(CLI::App& app);

// `lookout history --journal FILE`: what `ingest` did, as a table or JSON Lines.
std::unique_ptr<Command> make_history_command(CLI::App& app);

// `lookout tail [OPTIONS] PATH...`: every line appended to the files under PATH..., exactly
// once, across rotation and restarts (see src/tail/tail.h).
std::unique_ptr<Command> make_tail_command(CLI::App& app);

// `lookout sync SOURCE_DIR TARGET...`: a real-time mirror of SOURCE_DIR to several rsync
// targets, each with its own queue and retries (see src/sync/sync.h).
std::unique_ptr<Command> make_sync_command(CLI::App& app);

}  // namespace lookout::cmd
