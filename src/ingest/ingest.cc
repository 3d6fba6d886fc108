#include "ingest/ingest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "host/hosted_watch.h"
#include "ingest/ingester.h"
#include "lookout/watcher.h"
#include "store/journal.h"
#include "sys/clock.h"
#include "sys/path_text.h"

namespace lookout::ingest {

namespace {
namespace fs = std::filesystem;


// What execvp would find: a path with a slash as it is, a bare name in PATH.
bool executable(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t b = 0; b <= dirs.size();) {
    std::size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    std::string d = dirs.substr(b, e - b);
    std::string candidate = (d.empty() ? std::string(".") : d) + "/" + program;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return true;
    b = e + 1;
  }
  return false;
}

bool inside(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && (dir == "/" || path[dir.size()] == '/');
}
}  // namespace

std::string default_journal(const std::string& dir) { return sys::absolute_path(dir) + "/.lookout/journal.sqlite"; }

std::string check_ingest_options(const IngestOptions& o) {
  if (o.dir.empty()) return "no DIR to watch was given (lookout ingest DIR -- COMMAND [ARG...], or DIR --store)";
  if (o.store && !o.command.empty()) return "--store keeps the content in the journal; it takes no COMMAND";
  if (!o.store && o.command.empty()) return "no COMMAND to run was given (lookout ingest DIR -- COMMAND [ARG...], or --store)";
  if (o.store && (o.shell || o.stdin_content)) return "--shell and --stdin are for a COMMAND; --store runs none";
  if (o.jobs < 1 || o.jobs > 1024) return "-j/--jobs must be between 1 and 1024";
  if (o.retries < 0 || o.retries > 100) return "--retries must be between 0 and 100";
  if (o.delete_done && !o.done_dir.empty()) return "choose one of --delete and --done-dir";
  if (o.store_max == 0) return "--store-max must be at least 1 byte";
  for (const std::string& g : o.match) {
    if (g.empty()) return "--match: an empty pattern";
  }
  return {};
}

Result<int> run(IngestOptions o, std::FILE* log, std::FILE* out,
                std::function<void(const Error&, bool fatal)> on_diagnostic) {
  if (std::string problem = check_ingest_options(o); !problem.empty()) {
    return Error{ErrorCode::invalid_argument, 0, "", problem};
  }
  // A handler that cannot be executed would fail every file: said once, before anything runs.
  if (!o.store && !o.shell && !executable(o.command[0])) {
    return Error{ErrorCode::not_found, ENOENT, o.command[0],
                 "cannot run " + o.command[0] + ": no such program, or not executable (check the name, PATH or its mode)"};
  }
  o.dir = sys::absolute_path(o.dir);
  struct stat st;
  if (::stat(o.dir.c_str(), &st) != 0) return error_from_errno(errno, "cannot watch", o.dir);
  if (!S_ISDIR(st.st_mode)) return Error{ErrorCode::not_a_directory, ENOTDIR, o.dir, "cannot watch " + o.dir + ": not a directory"};
  o.journal = o.journal.empty() ? default_journal(o.dir) : sys::absolute_path(o.journal);
  for (std::string* d : {&o.done_dir, &o.failed_dir}) {
    if (d->empty()) continue;
    *d = sys::absolute_path(*d);
    std::error_code ec;
    fs::create_directories(*d, ec);
    struct stat ds;
    if (ec || ::stat(d->c_str(), &ds) != 0) return error_from_errno(ec ? ec.value() : errno, "cannot make", *d);
    if (ds.st_dev != st.st_dev) {
      return Error{ErrorCode::invalid_argument, EXDEV, *d,
                   *d + " is on another filesystem than " + o.dir + "; files are moved by rename, so it must be on the same one"};
    }
    if (*d == o.dir) return Error{ErrorCode::invalid_argument, 0, *d, *d + " is the watched directory itself"};
  }
  // lookout's own places inside the box are never watched nor taken.
  std::vector<std::string> own;
  const std::string journal_dir = fs::path(o.journal).parent_path().string();
  for (const std::string& d : {journal_dir, o.done_dir, o.failed_dir}) {
    if (!d.empty() && inside(d, o.dir)) own.push_back(d);
  }
  if (inside(o.journal, o.dir) && journal_dir == o.dir) own.push_back(o.journal);  // -wal, -shm beside it
  for (const std::string& d : own) o.watch.exclude_paths.push_back(d);
  if (inside(o.journal, o.dir) && journal_dir == o.dir) {
    o.watch.exclude_paths.push_back(o.journal + "-wal");
    o.watch.exclude_paths.push_back(o.journal + "-shm");
  }

  store::OpenOptions jo;
  jo.reset = o.reset_journal;
  auto journal = store::Journal::open(o.journal, jo);
  if (!journal) return journal.error();
  if (!(*journal)->moved_aside().empty() && log) {
    std::fprintf(log, "lookout ingest: the old journal was moved to %s; starting with an empty one\n",
                 (*journal)->moved_aside().c_str());
  }
  if (auto r = (*journal)->set_meta("dir", o.dir); !r) return r.error();

  o.watch.paths = {o.dir};
  o.watch.recursive = o.recursive;
  o.watch.on_diagnostic = std::move(on_diagnostic);
  SubscribeOptions so;
  so.events = event_bit(EventKind::create) | event_bit(EventKind::modify) | event_bit(EventKind::close_write) |
              event_bit(EventKind::attrib) | event_bit(EventKind::remove) | event_bit(EventKind::rename) |
              event_bit(EventKind::rescan) | event_bit(EventKind::unmount) | event_bit(EventKind::backend) |
              event_bit(EventKind::exists);
  // The files already in DIR come as `exists` records from the engine's own crawl, after the
  // backend records that say which subtrees are polled: DIR is not listed a second time.
  so.report_existing = true;
  auto hosted = host::start_hosted(o.watch, so, {SIGINT, SIGTERM});
  if (!hosted) {
    if (hosted.error().code == ErrorCode::interrupted) return 0;
    return hosted.error();
  }
  host::Host& host = *hosted->host;
  Ingester ingester(o, **journal, *hosted->events, log, out, sys::system_clock());
  ingester.start();
  if (o.ready && log) {
    std::fputs("READY\n", log);
    std::fflush(log);
  }
  while (ingester.step()) {
    auto wake = host.wait(ingester.fds(), ingester.wait_ms());
    if (wake.signal != 0) ingester.stop();
  }
  host.stop();
  if (Error end = hosted->watcher->end_reason(); !end.message.empty()) return end;
  return ingester.exit_code();
}

}  // namespace lookout::ingest
