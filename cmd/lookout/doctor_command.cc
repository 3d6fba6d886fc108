// `lookout doctor`: gathers a DoctorReport for the given paths and prints it as text or as one
// JSON object. Exit 0; 1 when any path could not be examined (each such path is also named on
// stderr, and the others are still reported).
#include "lookout/commands.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "doctor_report.h"

namespace lookout::cmd {

class DoctorCommand final : public Command {
 public:
  explicit DoctorCommand(CLI::App& app);
  ~DoctorCommand();
  int run(const ProcessStart& start) override;

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

struct DoctorCommand::Options {
  std::vector<std::string> paths;
  bool json = false;
};

DoctorCommand::DoctorCommand(CLI::App& app) : o_(std::make_unique<Options>()) {
  sub_ = app.add_subcommand(
      "doctor",
      "Explain how lookout would watch each path: filesystem, backend and why, inotify limits, "
      "fanotify, container, and advice");
  sub_->add_option("paths", o_->paths, "Paths to examine (default: .)");
  sub_->add_flag("--json", o_->json, "Print one JSON object instead of text");
}

DoctorCommand::~DoctorCommand() = default;

int DoctorCommand::run(const ProcessStart& /*start*/) {
  std::vector<std::string> paths = o_->paths;
  for (const auto& p : paths) {
    if (p.empty()) {
      std::fprintf(stderr, "lookout doctor: an empty path was given; name a file or directory ('.' for the current one)\n");
      return 1;
    }
  }
  if (paths.empty()) paths.emplace_back(".");
  DoctorReport report = gather_doctor_report(paths);
  int exit_code = 0;
  for (const auto& p : report.paths) {
    if (p.error.empty()) continue;
    std::fprintf(stderr, "lookout doctor: %s\n", p.error.c_str());
    exit_code = 1;
  }
  std::string out;
  if (o_->json) {
    format_doctor_json(report, out);
    out += '\n';
  } else {
    format_doctor_text(report, out);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return exit_code;
}

std::unique_ptr<Command> make_doctor_command(CLI::App& app) { return std::make_unique<DoctorCommand>(app); }

}  // namespace lookout::cmd
