// lookout: one binary, one subcommand per front end.
#include <CLI/CLI.hpp>

#include "lookout/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"lookout: watch directory trees and never lose a change"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lookout 0.1.0");
  lookout::cmd::WatchCommand watch(app);
  lookout::cmd::DoctorCommand doctor(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (watch.selected()) return watch.run();
  if (doctor.selected()) return doctor.run();
  return 1;
}
