#include "run/run.h"

#include "host/hosted_watch.h"
#include "lookout/watcher.h"
#include "net/http_client.h"
#include "run/http_post.h"
#include "run/runner.h"
#include "run/watch_plan.h"
#include "sys/clock.h"

namespace lookout::run {

std::string check_run_options(const RunOptions& o) {
  if (o.paths.empty()) return "no PATH to watch was given";
  switch (o.action) {
    case ActionKind::command:
    case ActionKind::restart:
      if (o.command.empty()) return "no COMMAND to run was given (lookout run PATH... -- COMMAND [ARG...])";
      break;
    case ActionKind::post:
      if (o.post_url.empty()) return "--post needs a URL";
      if (!o.command.empty()) return "--post sends the batch to a URL; it takes no COMMAND";
      if (auto t = parse_post_url(o.post_url); !t) return t.error().message;
      if (auto m = net::load_http_module(); !m) return m.error().message;
      if (o.retries < 0 || o.retries > 100) return "--retries must be between 0 and 100";
      if (o.expect_status != 0 && (o.expect_status < 100 || o.expect_status > 599)) {
        return "--expect-status must be an HTTP status (100 to 599)";
      }
      break;
    case ActionKind::signal: {
      int given = (o.pid > 0) + !o.pid_file.empty() + !o.pgrep_exact.empty();
      if (given != 1) return "--signal needs exactly one of --pid, --pid-file or --pgrep-exact";
      if (!o.command.empty()) return "--signal sends a signal; it takes no COMMAND";
      break;
    }
  }
  if (o.stdin_events != "" && o.stdin_events != "json" && o.stdin_events != "null") {
    return "--stdin-events: '" + o.stdin_events + "' is not json or null";
  }
  if (o.batch.max_wait_ms < o.batch.debounce_ms) return "--max-wait must not be shorter than --debounce";
  for (const std::string& g : o.match) {
    if (g.empty()) return "--match: an empty pattern";
  }
  return {};
}

Result<int> run(RunOptions o, std::FILE* log, std::function<void(const Error&, bool fatal)> on_diagnostic) {
  if (std::string problem = check_run_options(o); !problem.empty()) {
    return Error{ErrorCode::invalid_argument, 0, "", problem};
  }
  auto plan = plan_watch(o.paths, o.allow_missing);
  if (!plan) return plan.error();
  o.watch.paths = plan->roots;
  // Files are watched by name in their directories: those need their own entries only.
  o.watch.recursive = o.recursive && plan->has_dirs;
  o.watch.on_diagnostic = std::move(on_diagnostic);
  SubscribeOptions so;
  so.events = event_bit(EventKind::create) | event_bit(EventKind::modify) |
              event_bit(EventKind::close_write) | event_bit(EventKind::attrib) |
              event_bit(EventKind::remove) | event_bit(EventKind::rename) |
              event_bit(EventKind::rescan) | event_bit(EventKind::unmount);
  so.under = plan->under;
  auto hosted = host::start_hosted(o.watch, so, {SIGINT, SIGTERM});
  if (!hosted) {
    if (hosted.error().code == ErrorCode::interrupted) return 0;
    return hosted.error();
  }
  Subscription& events = *hosted->events;
  host::Host& host = *hosted->host;
  sys::Clock& clock = sys::system_clock();
  Runner runner(o, *plan, events, log);
  runner.announce_ready();
  if (o.ready) {
    std::fputs("READY\n", log);
    std::fflush(log);
  }
  runner.start(clock.monotonic_ms());
  for (;;) {
    const std::int64_t now = clock.monotonic_ms();
    if (!runner.step(now)) break;
    std::vector<int> fds = runner.fds();
    auto wake = host.wait(fds, runner.wait_ms(clock.monotonic_ms()));
    if (wake.signal != 0) break;
  }
  runner.stop();
  host.stop();
  // Watching ended on its own (the root deleted, the watch limit): said by the engine.
  if (Error end = hosted->watcher->end_reason(); !end.message.empty()) return end;
  return runner.exit_code();
}

}  // namespace lookout::run
