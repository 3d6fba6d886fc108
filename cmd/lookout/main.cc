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
#include <memory>
#include <string>
#include <vector>

#include "lookout/commands.h"

namespace {

// Every subcommand, in the order the usage lists them.
struct CommandInfo {
  const char* name;
  const char* summary;
  std::unique_ptr<lookout::cmd::Command> (*make)(CLI::App& app);
};

constexpr CommandInfo kCommandList[] = {
    {"watch", "print every change under the given paths (inotifywait-compatible)", lookout::cmd::make_watch_command},
    {"run", "run, restart or signal a program after each batch of changes", lookout::cmd::make_run_command},
    {"stats", "count events per directory for a while (inotifywatch-compatible)", lookout::cmd::make_stats_command},
    {"ingest", "process each file dropped into a directory once, when complete, with a journal",
     lookout::cmd::make_ingest_command},
    {"history", "show what ingest did (its journal)", lookout::cmd::make_history_command},
    {"sync", "mirror a directory to several rsync targets in real time, each on its own",
     lookout::cmd::make_sync_command},
    {"tail", "read every line appended under a log root, exactly once, across rotation",
     lookout::cmd::make_tail_command},
    {"doctor", "explain how lookout would watch each path", lookout::cmd::make_doctor_command},
};

const CommandInfo* find_command(const std::string& name) {
  for (const CommandInfo& c : kCommandList) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

std::string command_usage() {
  std::string out = "commands:\n";
  for (const CommandInfo& c : kCommandList) {
    out += "  ";
    out += c.name;
    const std::size_t len = std::strlen(c.name);
    out.append(len < 9 ? 9 - len : 1, ' ');  // the summaries in one column
    out += c.summary;
    out += "\n";
  }
  return out + "run 'lookout COMMAND --help' for a command's options\n";
}

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
  // The subcommand is argv[1] (no global options besides --help/--version): judged here so
  // that a typo gets a clear word and exit 2, not CLI11's "A subcommand is required". Only
  // its options are set up (all of them for `lookout --help`, which lists them).
  std::string command = argc > 1 ? argv[1] : "";
  const std::string usage = command_usage();
  if (command.empty()) {
    std::fprintf(stderr, "usage: lookout COMMAND [OPTIONS] [PATH...]\n%s", usage.c_str());
    return 2;
  }
  const bool top_flag = command == "-h" || command == "--help" || command == "--version";
  const CommandInfo* chosen = top_flag ? nullptr : find_command(command);
  if (!top_flag && !chosen) {
    std::fprintf(stderr, "lookout: unknown %s '%s'\n%s", command[0] == '-' ? "option" : "command",
                 command.c_str(), usage.c_str());
    return 2;
  }
  std::vector<std::unique_ptr<lookout::cmd::Command>> made;
  for (const CommandInfo& c : kCommandList) {
    if (top_flag || &c == chosen) made.push_back(c.make(app));
  }
  if (chosen && made.front()->takes_program()) {
    // `lookout run PATH... -- COMMAND [ARG...]`: everything after the first "--" is the
    // program and its arguments, never lookout's options.
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) != "--") continue;
      made.front()->set_program(std::vector<std::string>(argv + i + 1, argv + argc));
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
      std::fprintf(stderr, "lookout: %s\n%s", one_line(e.what()).c_str(), usage.c_str());
      return 2;
    }
    std::fprintf(stderr, "lookout %s: %s\n", command.c_str(), one_line(e.what()).c_str());
    return 1;
  }
  lookout::cmd::ProcessStart start;
  start.stdout_closed = (closed_fds & 2u) != 0;
  if (!chosen) return 2;  // --help and --version end in parse()
  return made.front()->run(start);
}
