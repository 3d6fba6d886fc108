// lookout: one binary, one subcommand per front end.
// Exit codes decided here: 2 for a missing or unknown subcommand (the usage is printed), 1 for
// any argument error of a subcommand (one line on stderr naming the option, as inotifywait),
// never CLI11's own codes.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lookout/commands.h"

namespace {

constexpr const char* kCommands =
    "commands:\n"
    "  watch    print every change under the given paths (inotifywait-compatible)\n"
    "  run      run, restart or signal a program after each batch of changes\n"
    "  stats    count events per directory for a while (inotifywatch-compatible)\n"
    "  ingest   process each file dropped into a directory once, when complete, with a journal\n"
    "  history  show what ingest did (its journal)\n"
    "  tail     print every line appended under a log root, exactly once, across rotation\n"
    "  doctor   explain how lookout would watch each path\n"
    "run 'lookout COMMAND --help' for a command's options\n";

// Opens /dev/null onto any of fds 0-2 that is closed, so that no fd lookout opens later (an
// eventfd, the inotify fd) can become standard output and receive records. Must run before
// anything opens a file. Returns which were closed (bit i: fd i).
unsigned ensure_std_fds() {
  unsigned closed = 0;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    closed |= 1u << fd;
    // open() returns the lowest free fd: this one, as the lower ones are open by now.
    int got = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (got != fd) {
      if (got >= 0) ::close(got);
      _exit(1);  // cannot make the process safe; nothing can be printed reliably
    }
  }
  return closed;
}

// CLI11's messages, made one line and without its exit codes.
std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  // "Could not convert: --max-pending = abc" -> "--max-pending: 'abc' is not a valid value"
  const std::string conv = "Could not convert: ";
  if (s.rfind(conv, 0) == 0) {
    std::string rest = s.substr(conv.size());
    if (auto eq = rest.find(" = "); eq != std::string::npos) {
      return rest.substr(0, eq) + ": '" + rest.substr(eq + 3) + "' is not a valid value";
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned closed_fds = ensure_std_fds();
  CLI::App app{"lookout: watch directory trees and never lose a change"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lookout 0.1.0");
  lookout::cmd::WatchCommand watch(app);
  lookout::cmd::DoctorCommand doctor(app);
  lookout::cmd::RunCommand run(app);
  lookout::cmd::StatsCommand stats(app);
  lookout::cmd::IngestCommand ingest(app);
  lookout::cmd::HistoryCommand history(app);
  lookout::cmd::TailCommand tail(app);

  // The subcommand is argv[1] (no global options besides --help/--version): judged here so
  // that a typo gets a clear word and exit 2, not CLI11's "A subcommand is required".
  std::string command = argc > 1 ? argv[1] : "";
  if (command.empty()) {
    std::fprintf(stderr, "usage: lookout COMMAND [OPTIONS] [PATH...]\n%s", kCommands);
    return 2;
  }
  const bool top_flag = command == "-h" || command == "--help" || command == "--version";
  if (!top_flag && command != "watch" && command != "doctor" && command != "run" &&
      command != "stats" && command != "ingest" && command != "history" && command != "tail") {
    std::fprintf(stderr, "lookout: unknown %s '%s'\n%s", command[0] == '-' ? "option" : "command",
                 command.c_str(), kCommands);
    return 2;
  }
  if (command == "run" || command == "ingest") {
    // `lookout run PATH... -- COMMAND [ARG...]`: everything after the first "--" is the
    // program and its arguments, never lookout's options.
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) != "--") continue;
      std::vector<std::string> words(argv + i + 1, argv + argc);
      if (command == "run") {
        run.set_command(std::move(words));
      } else {
        ingest.set_command(std::move(words));
      }
      argc = i;
      break;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (top_flag) {
      std::fprintf(stderr, "lookout: %s\n%s", one_line(e.what()).c_str(), kCommands);
      return 2;
    }
    std::fprintf(stderr, "lookout %s: %s\n", command.c_str(), one_line(e.what()).c_str());
    return 1;
  }
  lookout::cmd::ProcessStart start;
  start.stdout_closed = (closed_fds & 2u) != 0;
  if (watch.selected()) return watch.run(start);
  if (doctor.selected()) return doctor.run();
  if (run.selected()) return run.run();
  if (stats.selected()) return stats.run();
  if (ingest.selected()) return ingest.run();
  if (history.selected()) return history.run();
  if (tail.selected()) return tail.run();
  return 2;
}
