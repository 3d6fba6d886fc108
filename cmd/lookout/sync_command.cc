// `lookout sync`: parses flags into sync::SyncOptions and words errors; the work is
// sync::run().
//   lookout sync [OPTIONS] SOURCE_DIR TARGET...
// Exit codes: 0 after SIGINT/SIGTERM, or with --once when every target got its pass; 1 for
// bad arguments, when it cannot start (one line on stderr naming the path, target or option
// and the fix), with --once when a target failed, or after the state could not be written.
#include "lookout/commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "diagnostic_words.h"
#include "duration_flags.h"
#include "engine_flags.h"
#include "sync/sync.h"
#include "sync/target_spec.h"

namespace lookout::cmd {

class SyncCommand final : public Command {
 public:
  explicit SyncCommand(CLI::App& app);
  int run(const ProcessStart& start) override;

 private:
  struct Options {
    EngineFlags engine;
    std::string source;
    std::vector<std::string> targets;
    std::string password_file, ssh_command, rsync = "rsync";
    std::vector<std::string> rsync_args, exclude_from;
    bool no_delete = false, verify_checksum = false, once = false, json = false, ready = false, quiet = false;
    std::string delay = "500ms", max_delay = "5s", retry_max = "60", verify_every = "0", timeout = "120",
                save_every = "30s";
  };
  CLI::App* sub_;
  Options o_;
};

SyncCommand::SyncCommand(CLI::App& app) {
  sub_ = app.add_subcommand("sync",
                            "Mirror SOURCE_DIR to several rsync targets in real time, each on its own "
                            "(lookout sync SOURCE_DIR TARGET...)");
  Options& o = o_;
  sub_->add_option("source", o.source, "The directory to mirror");
  sub_->add_option("targets", o.targets,
                   "Where to: /local/dir, [user@]host:/path (rsync over ssh) or rsync://[user@]host[:port]/module[/path]");
  sub_->add_option("--password-file", o.password_file, "rsync's --password-file for rsync:// targets (mode 600)");
  sub_->add_option("--ssh-command", o.ssh_command, "rsync's -e for ssh targets, e.g. 'ssh -p 2222 -i KEY'");
  sub_->add_option("--rsync", o.rsync, "The rsync program (default: rsync in PATH)");
  sub_->add_option("--rsync-arg", o.rsync_args, "An extra rsync option, e.g. --rsync-arg=-z (repeatable)")
      ->allow_extra_args(false);
  sub_->add_option("--exclude-from", o.exclude_from, "Read --exclude-glob patterns from FILE, one a line")
      ->allow_extra_args(false);
  sub_->add_flag("--no-delete", o.no_delete, "Keep files on the targets that the source no longer has");
  sub_->add_option("--delay", o.delay, "Send a batch this long after its last change (default 500ms; a bare number is ms)");
  sub_->add_option("--max-delay", o.max_delay, "...but at most this long after its first change (default 5s)");
  sub_->add_option("--retry-max", o.retry_max, "Longest wait between tries to a failing target, in seconds (default 60)");
  sub_->add_option("--verify-every", o.verify_every,
                   "A full rsync pass to every target each SEC seconds, repairing drift (default 0: off; 3600 is a good choice)");
  sub_->add_flag("--verify-checksum", o.verify_checksum, "Verify passes compare contents (rsync --checksum)");
  sub_->add_option("--timeout", o.timeout, "rsync --timeout: a transfer stalled this many seconds fails (default 120)");
  sub_->add_flag("--once", o.once, "One full pass to every target, then exit (non-zero if one failed)");
  sub_->add_flag("--json", o.json, "JSON lines on stdout: each transfer, target state changes, verify results");
  sub_->add_flag("--ready", o.ready, "Print READY on stderr once watching and the first passes have started");
  sub_->add_flag("-q,--quiet", o.quiet, "Print no warnings from the watcher");
  add_engine_flags(*sub_, o.engine);
  // sync keeps more than the tree model: the targets' pending paths too, in one directory.
  if (CLI::Option* state = sub_->get_option_no_throw("--state")) {
    state->description("A directory for the tree model and each target's unconfirmed paths: a restart "
                       "sends only what changed meanwhile or was not confirmed");
  }
  sub_->add_option("--state-save-every", o.save_every,
                   "Save the tree model in --state this often once what was seen is recorded (default 30s): "
                   "after a kill -9, only what changed since is looked at again");
}

namespace {
int fail(const std::string& message) {
  std::fprintf(stderr, "lookout sync: %s\n", message.c_str());
  return 1;
}
}  // namespace

int SyncCommand::run(const ProcessStart& /*start*/) {
  Options o = o_;
  sync::SyncOptions r;
  r.source = o.source;
  if (o.targets.empty() && !o.source.empty()) return fail("no TARGET was given (lookout sync SOURCE_DIR TARGET...)");
  for (const std::string& text : o.targets) {
    auto t = sync::parse_target(text);
    if (!t) return fail(t.error().message);
    if (t->kind == sync::TargetKind::rsync_daemon) t->password_file = o.password_file;
    if (t->kind == sync::TargetKind::ssh) t->ssh_command = o.ssh_command;
    t->rsync_args = o.rsync_args;
    r.targets.push_back(std::move(*t));
  }
  if (!o.password_file.empty() &&
      std::none_of(r.targets.begin(), r.targets.end(), [](const auto& t) { return t.kind == sync::TargetKind::rsync_daemon; })) {
    return fail("--password-file is for rsync:// targets, and none was given");
  }
  r.rsync = o.rsync;
  r.delete_extraneous = !o.no_delete;
  r.verify_checksum = o.verify_checksum;
  r.once = o.once;
  r.json = o.json;
  r.ready = o.ready;
  if (std::string bad = parse_duration_flags({{"--delay", o.delay, r.delay_ms},
                                               {"--max-delay", o.max_delay, r.max_delay_ms},
                                               {"--state-save-every", o.save_every, r.state_save_every_ms}});
      !bad.empty()) {
    return fail(bad);
  }
  struct Seconds {
    const char* name;
    const std::string& text;
    std::int64_t& out;
  };
  for (const Seconds& s : {Seconds{"--retry-max", o.retry_max, r.retry_max_ms},
                           Seconds{"--verify-every", o.verify_every, r.verify_every_ms},
                           Seconds{"--timeout", o.timeout, r.timeout_ms}}) {
    auto ms = parse_seconds_or_duration(s.text);
    if (!ms) return fail(std::string(s.name) + ": '" + s.text + "' is not a number of seconds or a duration (e.g. 60, 2m)");
    s.out = *ms;
  }
  for (const std::string& file : o.exclude_from) {
    std::ifstream in(file);
    if (!in) return fail("--exclude-from " + file + ": cannot read it (" + std::strerror(errno) + ")");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      o.engine.exclude_glob.push_back(line);
    }
  }
  r.exclude_globs = o.engine.exclude_glob;
  // --state names a directory here; the engine's state file goes inside it (sync::run).
  r.state_dir = o.engine.state;
  if (o.engine.state_reset) return fail("--state-reset: to start over, remove the --state directory");
  o.engine.state.clear();
  if (std::string bad = check_engine_flags(o.engine); !bad.empty()) return fail(bad);
  if (std::string bad = fill_watch_options(o.engine, r.watch); !bad.empty()) return fail(bad);
  if (std::string bad = sync::check_sync_options(r); !bad.empty()) return fail(bad);
  const bool quiet = o.quiet;
  auto said_fatal = std::make_shared<std::atomic<bool>>(false);
  auto result = sync::run(std::move(r), stderr, stdout, [quiet, said_fatal](const Error& e, bool fatal) {
    const bool info = e.code == ErrorCode::ok && !fatal;
    if (fatal) said_fatal->store(true);
    if (fatal || (!info && !quiet)) std::fprintf(stderr, "lookout sync: %s\n", diagnostic_words(e).c_str());
  });
  if (!result) {
    if (said_fatal->load()) return 1;
    return fail(diagnostic_words(result.error()));
  }
  return *result;
}

std::unique_ptr<Command> make_sync_command(CLI::App& app) { return std::make_unique<SyncCommand>(app); }

}  // namespace lookout::cmd
