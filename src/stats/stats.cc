#include "stats/stats.h"

#include <csignal>

#include "host/hosted_watch.h"
#include "lookout/watcher.h"
#include "stats/table.h"
#include "sys/clock.h"

namespace lookout::stats {

EventMask kinds_for_columns(ColumnMask c) {
  EventMask m = event_bit(EventKind::rescan) | event_bit(EventKind::backend) | event_bit(EventKind::unmount);
  auto want = [&](Column col, EventKind k) {
    if (c & column_bit(col)) m |= event_bit(k);
  };
  want(Column::access, EventKind::access);
  want(Column::modify, EventKind::modify);
  want(Column::attrib, EventKind::attrib);
  want(Column::close_write, EventKind::close_write);
  want(Column::close_nowrite, EventKind::close_nowrite);
  want(Column::open, EventKind::open);
  // Moves in and out of the tree come as create and remove with a reason; renames inside it
  // as rename.
  if (c & (column_bit(Column::moved_from) | column_bit(Column::moved_to))) {
    m |= event_bit(EventKind::rename) | event_bit(EventKind::create) | event_bit(EventKind::remove);
  }
  want(Column::move_self, EventKind::move_self);
  want(Column::create, EventKind::create);
  want(Column::remove, EventKind::remove);
  want(Column::delete_self, EventKind::delete_self);
  // A directory renamed inside the tree moves its rows, whatever is counted.
  m |= event_bit(EventKind::rename);
  return m;
}

namespace {

// A row key named with the user's spelling of its root ("t/e/" for /home/u/t/e/).
std::string spelled(const std::vector<std::pair<std::string, std::string>>& roots, const std::string& key) {
  for (const auto& [abs, given] : roots) {
    if (key.compare(0, abs.size(), abs) != 0) continue;
    const std::string rest = key.substr(abs.size());
    if (!rest.empty() && rest[0] != '/') continue;  // /a/bc is not under /a/b
    std::string base = given;
    if (!rest.empty() && base.size() > 1 && base.back() == '/') base.pop_back();
    return base + rest;
  }
  return key;
}

}  // namespace

Result<int> run(StatsOptions o, std::FILE* out, std::FILE* log,
                std::function<void(const Error&, bool fatal)> on_diagnostic) {
  if (o.watch.paths.empty()) return Error{ErrorCode::invalid_argument, 0, "", "No files specified to watch!"};
  o.watch.events = kinds_for_columns(o.columns);
  // Counts need no stat of a written file: the engine reads it later, once for many writes.
  o.watch.stat_writes = false;
  o.watch.on_diagnostic = std::move(on_diagnostic);
  SubscribeOptions so;
  so.events = o.watch.events;
  so.coalesce = false;            // every kernel event counts, as inotifywatch counts it
  so.report_existing = o.zero;    // -z: a row for every watched directory
  so.max_behind = 1u << 20;       // counting keeps up; a lag would cost a rescan, not counts
  TallyOptions to;
  for (const auto& [abs, given] : o.spelled_roots) to.roots.push_back(abs);
  to.columns = o.columns;
  to.per_file = o.per_file;
  Tally tally(to);
  TableOptions table;
  table.columns = o.columns;
  table.zero = o.zero;
  table.sort_by = o.sort_by;
  table.ascending = o.ascending;
  table.top = o.top;
  table.display = [roots = o.spelled_roots](const std::string& key) { return spelled(roots, key); };

  if (!o.quiet) {
    std::fputs("Establishing watches...\n", log);
    std::fflush(log);
  }
  // SIGUSR1 prints the table so far and goes on, as inotifywatch does.
  auto hosted = host::start_hosted(o.watch, so, {SIGINT, SIGTERM, SIGHUP, SIGUSR1});
  if (!hosted) {
    if (hosted.error().code == ErrorCode::interrupted) return 0;
    return hosted.error();
  }
  host::Host& host = *hosted->host;
  Subscription* events = hosted->events.get();
  if (!o.quiet) {
    std::fputs("Finished establishing watches, now collecting statistics.\n", log);
    std::fflush(log);
  }
  if (o.zero) {
    for (const auto& [abs, given] : o.spelled_roots) tally.add_row(abs == "/" ? abs : abs + "/");
  }

  sys::Clock& clock = sys::system_clock();
  const std::int64_t began = clock.monotonic_ms();
  const std::int64_t deadline = o.timeout_s > 0 ? began + o.timeout_s * 1000LL : INT64_MAX;
  const std::int64_t every = static_cast<std::int64_t>(o.interval_s * 1000);
  std::int64_t next_print = every > 0 ? began + every : INT64_MAX;
  auto print = [&](double duration_s) {
    std::string text = o.json ? format_json(tally, table, duration_s) : format_table(tally, table);
    if (text.empty() && !o.json) {
      std::fputs("No events occurred.\n", log);
    } else {
      std::fwrite(text.data(), 1, text.size(), out);
    }
    std::fflush(out);
  };
  std::vector<Event> batch;
  const int fd = events->fd();
  bool open = true;
  while (open) {
    const std::int64_t now = clock.monotonic_ms();
    if (now >= deadline) break;
    if (now >= next_print) {
      print(static_cast<double>(now - began) / 1000.0);
      if (!o.json) std::fputc('\n', out);
      next_print += every;
    }
    const std::int64_t until = std::min(deadline, next_print);
    const int wait = until == INT64_MAX ? -1 : static_cast<int>(std::max<std::int64_t>(0, until - now));
    auto wake = host.wait(std::span<const int>(&fd, 1), wait);
    batch.clear();
    open = events->try_take(batch);
    for (const Event& e : batch) tally.count(e);
    if (wake.signal == SIGUSR1) {
      print(static_cast<double>(clock.monotonic_ms() - began) / 1000.0);
      if (!o.json) std::fputc('\n', out);
      std::fflush(out);
      continue;
    }
    if (wake.signal != 0) break;
  }
  host.stop();
  // What the loop appended before it stopped is counted too.
  batch.clear();
  while (events->try_take(batch)) {
    for (const Event& e : batch) tally.count(e);
    batch.clear();
  }
  for (const Event& e : batch) tally.count(e);
  const double duration_s = static_cast<double>(clock.monotonic_ms() - began) / 1000.0;
  print(duration_s);
  if (!o.quiet) {
    const std::string summary = format_summary(tally, table, duration_s);
    std::fwrite(summary.data(), 1, summary.size(), log);
  }
  if (Error end = hosted->watcher->end_reason(); !end.message.empty()) return end;
  return 0;
}

}  // namespace lookout::stats
