#include "sync/sync.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "host/hosted_watch.h"
#include "proc/child.h"
#include "store/sync_state.h"
#include "sync/rsync_command.h"
#include "sync/syncer.h"
#include "sync/target_spec.h"
#include "sys/clock.h"
#include "sys/path_text.h"
#include "sys/unique_fd.h"

namespace lookout::sync {

namespace {

bool inside(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         (dir == "/" || path[dir.size()] == '/'));
}

std::string without_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Runs `rsync --version` and checks it has --delete-missing-args (3.1.0).
Result<void> check_rsync(const std::string& rsync) {
  sys::UniqueFd out(::memfd_create("rsync-version", MFD_CLOEXEC));
  proc::SpawnOptions so;
  so.argv = {rsync, "--version"};
  so.stdout_fd = out.get();
  auto child = proc::Child::spawn(so);
  if (!child) {
    return Error{ErrorCode::not_found, child.error().sys_errno, rsync,
                 "cannot run " + rsync + ": " + std::strerror(child.error().sys_errno ? child.error().sys_errno : ENOENT) +
                     " (install rsync: apt-get install rsync, or give its path with --rsync)"};
  }
  const int status = child->stop(0, std::chrono::milliseconds(10000));
  std::string text(4096, '\0');
  ssize_t n = ::pread(out.get(), text.data(), text.size(), 0);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  auto v = parse_rsync_version(text);
  if (proc::exit_code_of(status) != 0 || !v) {
    return Error{ErrorCode::invalid_argument, 0, rsync,
                 rsync + " --version did not say which rsync it is; is it rsync? (give rsync's path with --rsync)"};
  }
  if (!rsync_version_ok(*v)) {
    std::string ver;
    for (int x : *v) ver += (ver.empty() ? "" : ".") + std::to_string(x);
    return Error{ErrorCode::invalid_argument, 0, rsync,
                 rsync + " is version " + ver +
                     "; lookout sync needs rsync 3.1.0 or later (--delete-missing-args): upgrade it or give a newer one with --rsync"};
  }
  return {};
}

// rsync refuses a password file others can read; said before the first transfer fails.
Result<void> check_password_file(const std::string& file) {
  struct stat st;
  if (::stat(file.c_str(), &st) != 0) return error_from_errno(errno, "cannot read the --password-file", file);
  if (!S_ISREG(st.st_mode)) {
    return Error{ErrorCode::invalid_argument, 0, file, "--password-file " + file + ": not a regular file"};
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", st.st_mode & 0777);
    return Error{ErrorCode::permission_denied, 0, file,
                 "--password-file " + file + ": mode " + mode +
                     " lets others read it, and rsync refuses such a file: chmod 600 " + file};
  }
  if (::geteuid() == 0 && st.st_uid != 0) {
    return Error{ErrorCode::permission_denied, 0, file,
                 "--password-file " + file + ": rsync run as root needs it owned by root: chown root " + file};
  }
  if (::access(file.c_str(), R_OK) != 0) return error_from_errno(errno, "cannot read the --password-file", file);
  return {};
}

}  // namespace

std::string check_sync_options(const SyncOptions& o) {
  if (o.source.empty()) return "no SOURCE_DIR was given (lookout sync SOURCE_DIR TARGET...)";
  if (o.targets.empty()) return "no TARGET was given (a directory, [user@]host:/path or rsync://[user@]host/module)";
  if (o.delay_ms < 0 || o.max_delay_ms < o.delay_ms) return "--max-delay must not be shorter than --delay";
  if (o.retry_max_ms < 1000) return "--retry-max must be at least 1 second";
  for (std::size_t i = 0; i < o.targets.size(); ++i) {
    for (std::size_t j = i + 1; j < o.targets.size(); ++j) {
      if (o.targets[i].destination == o.targets[j].destination) return "target '" + o.targets[j].text + "' is given twice";
    }
  }
  return {};
}

Result<int> run(SyncOptions o, std::FILE* log, std::FILE* out,
                std::function<void(const Error&, bool fatal)> on_diagnostic) {
  if (std::string problem = check_sync_options(o); !problem.empty()) {
    return Error{ErrorCode::invalid_argument, 0, "", problem};
  }
  o.source = without_slash(sys::absolute_path(o.source));
  struct stat st;
  if (::stat(o.source.c_str(), &st) != 0) return error_from_errno(errno, "cannot sync", o.source);
  if (!S_ISDIR(st.st_mode)) {
    return Error{ErrorCode::not_a_directory, ENOTDIR, o.source, "cannot sync " + o.source + ": not a directory"};
  }
  for (TargetSpec& t : o.targets) {
    if (t.kind == TargetKind::local) {
      const std::string dir = without_slash(t.destination);
      if (inside(dir, o.source) || inside(o.source, dir)) {
        return Error{ErrorCode::invalid_argument, 0, dir,
                     "target " + t.text + " and SOURCE " + o.source +
                         " overlap: a mirror inside its source (or around it) would copy itself; choose a directory outside"};
      }
    }
    if (!t.password_file.empty()) {
      if (t.kind != TargetKind::rsync_daemon) {
        return Error{ErrorCode::invalid_argument, 0, t.text,
                     "--password-file is for rsync:// targets; '" + t.text + "' is not one (ssh uses keys: --ssh-command)"};
      }
      if (auto r = check_password_file(t.password_file); !r) return r.error();
    }
  }
  if (auto r = check_rsync(o.rsync); !r) return r.error();

  RsyncCommand command;
  command.rsync = o.rsync;
  command.source = o.source;
  command.delete_extraneous = o.delete_extraneous;
  command.timeout_ms = o.timeout_ms;
  command.excludes = o.exclude_globs;

  std::unique_ptr<store::SyncState> state;
  bool restarted = false;
  // Written by this thread after each step, read by the watcher's loop before it saves.
  auto durable = std::make_shared<std::atomic<std::uint64_t>>(0);
  if (!o.state_dir.empty()) {
    o.state_dir = without_slash(sys::absolute_path(o.state_dir));
    auto s = store::SyncState::open(o.state_dir);
    if (!s) return s.error();
    state = std::move(*s);
    restarted = ::access(state->tree_state_file().c_str(), F_OK) == 0;
    if (inside(o.state_dir, o.source)) {
      // lookout's own files are neither watched nor sent.
      o.watch.exclude_paths.push_back(o.state_dir);
      command.excludes.push_back("/" + o.state_dir.substr(o.source.size() + 1) + "/");
    }
  }

  if (o.once) {
    Syncer syncer(o, command, nullptr, state.get(), log, out);
    sys::Clock& clock = sys::system_clock();
    if (auto r = syncer.begin(false, clock.monotonic_ms()); !r) return r.error();
    if (o.ready) {
      std::fputs("READY\n", log);
      std::fflush(log);
    }
    while (syncer.step(clock.monotonic_ms())) {
      std::vector<pollfd> pfds;
      for (int fd : syncer.fds()) pfds.push_back(pollfd{fd, POLLIN, 0});
      ::poll(pfds.data(), pfds.size(), syncer.wait_ms(clock.monotonic_ms()));
    }
    return syncer.exit_code();
  }

  o.watch.paths = {o.source};
  o.watch.recursive = true;
  o.watch.on_diagnostic = std::move(on_diagnostic);
  if (state && !restarted) {
    // A fresh --state directory has no tree model yet: that is the first start, not news.
    o.watch.on_diagnostic = [said = std::move(o.watch.on_diagnostic), model = state->tree_state_file()](
                                const Error& e, bool fatal) {
      if (!fatal && e.path == model && e.sys_errno == ENOENT) return;
      if (said) said(e, fatal);
    };
  }
  for (const std::string& g : o.exclude_globs) o.watch.exclude_globs.push_back(g);
  if (state) {
    o.watch.state_file = state->tree_state_file();
    // Saved only when every change seen so far is recorded as pending (the Syncer says how
    // far that is): a model saved ahead of the record would, after a kill -9, hide those
    // changes from the restart diff.
    o.watch.state_save_every_ms = static_cast<int>(std::min<std::int64_t>(o.state_save_every_ms, INT_MAX));
    o.watch.durable_through = [durable] { return durable->load(); };
  }
  SubscribeOptions so;
  so.events = event_bit(EventKind::create) | event_bit(EventKind::modify) | event_bit(EventKind::close_write) |
              event_bit(EventKind::attrib) | event_bit(EventKind::remove) | event_bit(EventKind::rename) |
              event_bit(EventKind::rescan) | event_bit(EventKind::unmount);
  so.max_behind = 1u << 20;
  auto hosted = host::start_hosted(o.watch, so, {SIGINT, SIGTERM, SIGHUP});
  if (!hosted) {
    if (hosted.error().code == ErrorCode::interrupted) return 0;
    return hosted.error();
  }
  host::Host& host = *hosted->host;
  sys::Clock& clock = sys::system_clock();
  Syncer syncer(o, command, hosted->events.get(), state.get(), log, out);
  if (auto r = syncer.begin(restarted, clock.monotonic_ms()); !r) return r.error();
  if (o.ready) {
    std::fputs("READY\n", log);
    std::fflush(log);
  }
  for (;;) {
    const bool more = syncer.step(clock.monotonic_ms());
    durable->store(syncer.durable_through());
    if (!more) break;
    std::vector<int> fds = syncer.fds();
    auto wake = host.wait(fds, syncer.wait_ms(clock.monotonic_ms()));
    if (wake.signal == SIGHUP) {
      syncer.verify_now();
      continue;
    }
    if (wake.signal != 0) break;
  }
  host.stop();
  syncer.stop(clock.monotonic_ms());
  // Everything seen is recorded now: the model may be saved (the loop skipped it at exit
  // unless the record had caught up already).
  if (state && syncer.exit_code() == 0) {
    // Not saved: the restart diffs against the last saved model and sends more, never less.
    if (auto r = hosted->watcher->save_state(); !r && log) std::fprintf(log, "lookout sync: %s\n", r.error().message.c_str());
  }
  if (Error end = hosted->watcher->end_reason(); !end.message.empty()) return end;
  return syncer.exit_code();
}

}  // namespace lookout::sync
