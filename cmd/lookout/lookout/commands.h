// The subcommands. Each registers its options on the CLI11 app and runs when selected;
// only these decide exit codes.
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace lookout::cmd {

class WatchCommand {
 public:
  explicit WatchCommand(CLI::App& app);
  ~WatchCommand();
  bool selected() const;
  int run();

  struct Options;

 private:
  CLI::App* sub_;
  std::unique_ptr<Options> o_;
};

}  // namespace lookout::cmd
