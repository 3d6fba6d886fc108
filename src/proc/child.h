// Child: one program started without a shell, in a process group of its own, and stopped
// with its whole group: the signal asked for, a grace period, then SIGKILL, and reaped
// before stop() returns, so two never overlap and none is left a zombie. A child dies with
// lookout's thread that started it (PR_SET_PDEATHSIG), even when lookout is killed hard.
// Used by `run` (and later `ingest`, and `sync` for rsync). One thread owns a Child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lookout/result.h"
#include "sys/unique_fd.h"

namespace lookout::proc {

struct SpawnOptions {
  // argv[0] is looked up in PATH when it has no slash (execvp). Never through a shell: a
  // caller that wants one passes {"/bin/sh", "-c", script}.
  std::vector<std::string> argv;
  std::vector<std::string> env_add;  // "NAME=value", added to (or replacing in) lookout's
  int stdin_fd = -1;                 // -1: lookout's own stdin; else dup'ed onto 0
  int stdout_fd = -1, stderr_fd = -1;  // -1: lookout's own; else dup'ed onto 1 and 2
};

class Child {
 public:
  // Starts the program. An Error (code not_found or permission_denied, the program's name as
  // its path, errno from execve) when it cannot be executed: that is known before this
  // returns (a close-on-exec pipe reports exec's failure).
  static Result<Child> spawn(const SpawnOptions& options);

  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();  // stops the group (TERM, 2 s, KILL) if still running

  pid_t pid() const { return pid_; }
  // Readable (POLLIN) once the child has exited (a pidfd); -1 if the kernel has none.
  int exit_fd() const { return pidfd_.get(); }
  // Reaps it if it has exited: its wait status (as waitpid's), without blocking.
  std::optional<int> try_reap();
  bool running() const { return pid_ > 0 && !status_; }
  std::optional<int> status() const { return status_; }

  // Sends `sig` to the child's process group (grandchildren included). False if gone.
  bool signal_group(int sig);
  // Stops the group: `sig`, then SIGKILL after `grace`, and waits until the child is reaped.
  // Returns its wait status.
  int stop(int sig, std::chrono::milliseconds grace);

 private:
  Child(pid_t pid, sys::UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  bool wait_exit(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  sys::UniqueFd pidfd_;
  std::optional<int> status_;
};

// The exit code a shell would give for a wait status: the code, or 128 + the signal.
int exit_code_of(int wait_status);
// "exit 3", "signal TERM": for log lines.
std::string describe_status(int wait_status);

}  // namespace lookout::proc
