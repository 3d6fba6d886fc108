#include "proc/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "proc/signal_names.h"

extern char** environ;

namespace lookout::proc {

namespace {

using Clock = std::chrono::steady_clock;

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// The child runs on its own stack in lookout's memory until exec (clone with CLONE_VM and
// CLONE_VFORK, as posix_spawn does): no page tables are copied and no page is faulted in
// twice, which made fork the largest part of a run's latency (perf: page faults, COW and
// TLB flushes of fork, about 1.5 ms a run). posix_spawn itself cannot set PR_SET_PDEATHSIG.
constexpr std::size_t kChildStack = 128 * 1024;

struct ChildArgs {
  const SpawnOptions* options;
  char* const* argv;
  char* const* envp;
  int report;
  pid_t parent;
};

// In the child, between clone and exec, sharing lookout's memory: only async-signal-safe
// calls, nothing that allocates or takes a lock (the symbols are bound at load: -z now). Reports exec's errno
// through `report` (close-on-exec: a successful exec closes it with nothing written).
// Not instrumented by ASan: it runs on a stack ASan does not know, in memory it shares.
[[noreturn]] __attribute__((no_sanitize("address", "undefined"))) void exec_child(const SpawnOptions& o, char* const* argv, char* const* envp, int report,
                             pid_t parent) {
  // A process group of its own: stop() signals the group, grandchildren included.
  ::setpgid(0, 0);
  // Die with the thread that started it, even if lookout is killed hard; and if lookout
  // died before this line, do not run at all.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  // lookout blocks its stop signals (Host) and ignores SIGPIPE; both survive exec. (Handled
  // signals go back to default at exec by themselves; what lookout's own parent ignored,
  // like nohup's SIGHUP, stays ignored, as a shell would leave it.)
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  if ((o.stdin_fd >= 0 && ::dup2(o.stdin_fd, 0) < 0) || (o.stdout_fd >= 0 && ::dup2(o.stdout_fd, 1) < 0) ||
      (o.stderr_fd >= 0 && ::dup2(o.stderr_fd, 2) < 0)) {
    int err = errno;
    [[maybe_unused]] auto n = ::write(report, &err, sizeof err);
    ::_exit(127);
  }
  ::execvpe(argv[0], argv, envp);
  int err = errno;
  [[maybe_unused]] auto n = ::write(report, &err, sizeof err);
  ::_exit(127);
}

__attribute__((no_sanitize("address", "undefined"))) int child_main(void* p) {
  const auto* a = static_cast<const ChildArgs*>(p);
  exec_child(*a->options, a->argv, a->envp, a->report, a->parent);
}

}  // namespace

Result<Child> Child::spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return Error{ErrorCode::invalid_argument, 0, "", "no program to run"};
  std::vector<char*> argv;
  for (const std::string& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The environment is built here: after fork, a threaded process may not allocate.
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    bool replaced = std::any_of(o.env_add.begin(), o.env_add.end(), [&](const std::string& add) {
      auto eq = add.find('=');
      return kv.substr(0, eq + 1) == std::string_view(add).substr(0, eq + 1);
    });
    if (!replaced) envp.push_back(*e);
  }
  for (const std::string& kv : o.env_add) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return error_from_errno(errno, "cannot run", o.argv[0]);
  const pid_t parent = ::getpid();
  // Not zeroed: the child touches a page or two at the top; zeroing faulted in all 32.
  std::unique_ptr<char[]> stack(new char[kChildStack]);
  ChildArgs args{&o, argv.data(), envp.data(), report[1], parent};
  // The parent waits here until the child has called exec (or exited).
  pid_t pid = ::clone(child_main, stack.get() + kChildStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (pid < 0) {
    int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return error_from_errno(err, "cannot run", o.argv[0]);
  }
  ::close(report[1]);
  // Also in the parent: the child's setpgid may not have run yet when stop() signals.
  ::setpgid(pid, pid);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    Error e = error_from_errno(err, "cannot run", o.argv[0],
                               err == ENOENT   ? "no such program; check the name or PATH"
                               : err == EACCES ? "not executable; check its mode"
                                               : "");
    e.code = err == ENOENT ? ErrorCode::not_found
             : err == EACCES ? ErrorCode::permission_denied
                             : ErrorCode::io;
    return e;
  }
  return Child(pid, sys::UniqueFd(pidfd_open(pid)));
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)), status_(o.status_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (running()) stop(SIGTERM, std::chrono::seconds(2));
    pid_ = std::exchange(o.pid_, -1);
    pidfd_ = std::move(o.pidfd_);
    status_ = o.status_;
  }
  return *this;
}

Child::~Child() {
  if (running()) stop(SIGTERM, std::chrono::seconds(2));
}

std::optional<int> Child::try_reap() {
  if (status_ || pid_ <= 0) return status_;
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == pid_) {
    status_ = status;
    pidfd_.reset();
    // The group may live on (a child that forked and exited): its members were started by
    // this program, and no one else will stop them.
    ::kill(-pid_, SIGKILL);
  }
  return status_;
}

bool Child::signal_group(int sig) {
  if (!running()) return false;
  return ::kill(-pid_, sig) == 0 || ::kill(pid_, sig) == 0;
}

bool Child::wait_exit(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  for (;;) {
    if (try_reap()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) return false;
    if (pidfd_.valid()) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left));
    } else {
      ::usleep(static_cast<useconds_t>(std::min<long long>(left, 10) * 1000));  // no pidfd: pre-5.3
    }
  }
}

int Child::stop(int sig, std::chrono::milliseconds grace) {
  if (!running()) return status_.value_or(0);
  signal_group(sig);
  // SIGCONT too: a stopped program cannot act on TERM.
  if (sig != SIGKILL) signal_group(SIGCONT);
  if (!wait_exit(grace)) {
    signal_group(SIGKILL);
    wait_exit(std::chrono::hours(1));  // KILL cannot be ignored; only an uninterruptible sleep delays it
  }
  return status_.value_or(0);
}

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return std::string("signal ") + signal_name(WTERMSIG(wait_status));
  return "status " + std::to_string(wait_status);
}

}  // namespace lookout::proc
