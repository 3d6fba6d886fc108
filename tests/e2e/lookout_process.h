// End-to-end test support, header-only (tests/CMakeLists.txt builds only e2e/*_test.cc):
//   LookoutProcess  runs the real `lookout` binary as a child with its stdout/stderr on pipes,
//                   reads them with deadlines (poll on the pipes and a pidfd, never sleeps) and
//                   SIGKILLs + reaps the child in its destructor unless it already exited.
//   parse_json_line a parser for the flat JSON objects `lookout watch --json` prints.
//   base64_decode   for path_b64/from_b64.
//   snapshot_tree   the real tree under a root as {relative path -> is_dir}.
//   ConsumerTree    applies JSON events to such a snapshot the way a consumer must
//                   (create/delete/rename/rescan semantics) and records what did not add up.
//   SysctlOverride  (from support/test_dirs.h) writes a /proc/sys value, always restores it.
//   wait_file_contains  waits (inotify, deadline) until a file contains a string.
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include "support/test_dirs.h"

#ifndef LOOKOUT_BINARY
#error "LOOKOUT_BINARY must be defined (tests/CMakeLists.txt does it for e2e tests)"
#endif

extern char** environ;

namespace lookout::e2e {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline std::string errno_text(int err) { return std::string(std::strerror(err)); }

// A child process running `lookout ARGS...`. Not copyable; the destructor kills (SIGKILL) and
// reaps the child if it is still running, so a failing test never leaves one behind.
class LookoutProcess {
 public:
  struct Options {
    std::string cwd;           // empty: the test's cwd
    int stdout_pipe_size = 0;  // F_SETPIPE_SZ on the stdout pipe when > 0
    long long address_space_limit = 1LL << 30;  // RLIMIT_AS for the child; 0: none
    int nofile_soft_limit = 0;  // RLIMIT_NOFILE (soft) the child starts with; 0: inherited
    // Standard fds the child starts with closed (as a careless caller leaves them).
    bool close_stdin = false, close_stdout = false, close_stderr = false;
    std::string program;       // empty: LOOKOUT_BINARY; else another binary (a peer, e.g.
                               // inotifywait) run the same way, args without the program
  };

  explicit LookoutProcess(const std::vector<std::string>& args) : LookoutProcess(args, Options{}) {}

  LookoutProcess(const std::vector<std::string>& args, const Options& opt) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe2: " + errno_text(errno));
    }
    if (opt.stdout_pipe_size > 0) ::fcntl(out[0], F_SETPIPE_SZ, opt.stdout_pipe_size);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    // Closed after the dup2s: the pipe of a closed fd sees EOF at once.
    if (opt.close_stdin) posix_spawn_file_actions_addclose(&fa, 0);
    if (opt.close_stdout) posix_spawn_file_actions_addclose(&fa, 1);
    if (opt.close_stderr) posix_spawn_file_actions_addclose(&fa, 2);
    if (!opt.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, opt.cwd.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_s;
    const std::string program = opt.program.empty() ? LOOKOUT_BINARY : opt.program;
    argv_s.push_back(program);
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The child inherits the limit at spawn; the parent's own is put back at once.
    rlimit saved_nofile{};
    ::getrlimit(RLIMIT_NOFILE, &saved_nofile);
    if (opt.nofile_soft_limit > 0) {
      rlimit tight = saved_nofile;
      tight.rlim_cur = static_cast<rlim_t>(opt.nofile_soft_limit);
      ::setrlimit(RLIMIT_NOFILE, &tight);
    }
    int rc = ::posix_spawn(&pid_, program.c_str(), &fa, &attr, argv.data(), environ);
    if (opt.nofile_soft_limit > 0) ::setrlimit(RLIMIT_NOFILE, &saved_nofile);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    ::close(err[1]);
    if (devnull >= 0) ::close(devnull);
    if (rc != 0) {
      ::close(out[0]);
      ::close(err[0]);
      throw std::runtime_error("posix_spawn " + program + ": " + errno_text(rc));
    }
    out_fd_ = out[0];
    err_fd_ = err[0];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
#if !defined(__SANITIZE_ADDRESS__)
    // A runaway child (an endless loop that allocates) must fail fast instead of eating the
    // machine's memory: cap its address space.
    if (opt.address_space_limit > 0) {
      rlimit lim{static_cast<rlim_t>(opt.address_space_limit), static_cast<rlim_t>(opt.address_space_limit)};
      ::prlimit(pid_, RLIMIT_AS, &lim, nullptr);
    }
#endif
  }

  LookoutProcess(const LookoutProcess&) = delete;
  LookoutProcess& operator=(const LookoutProcess&) = delete;

  ~LookoutProcess() {
    if (!exited_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    for (int fd : {out_fd_, err_fd_, pidfd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }  // all stdout so far
  const std::string& err() const { return err_; }  // all stderr so far
  bool exited() const { return exited_; }
  int exit_code() const { return exit_code_; }  // exit status, or 128+signal

  void signal(int sig) {
    if (!exited_) ::kill(pid_, sig);
  }

  // Reads whatever is available, waiting up to timeout_ms (0: not at all) for something to
  // happen (output, EOF or exit). Returns false if nothing happened.
  bool pump(int timeout_ms) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, pid_i = -1;
    if (out_fd_ >= 0) { out_i = n; fds[n++] = {out_fd_, POLLIN, 0}; }
    if (err_fd_ >= 0) { err_i = n; fds[n++] = {err_fd_, POLLIN, 0}; }
    if (!exited_ && pidfd_ >= 0) { pid_i = n; fds[n++] = {pidfd_, POLLIN, 0}; }
    if (n == 0) return false;
    int r = ::poll(fds, n, timeout_ms);
    if (r <= 0) {
      if (!exited_ && pidfd_ < 0) reap(false);  // no pidfd: fall back to WNOHANG
      return false;
    }
    if (out_i >= 0 && fds[out_i].revents) drain(out_fd_, out_);
    if (err_i >= 0 && fds[err_i].revents) drain(err_fd_, err_);
    if (pid_i >= 0 && fds[pid_i].revents) reap(true);
    return true;
  }

  // Pumps until pred() is true or the deadline passes; returns pred()'s last value.
  bool wait_until(const std::function<bool()>& pred, milliseconds timeout) {
    auto end = Clock::now() + timeout;
    while (!pred()) {
      auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now()).count();
      if (left <= 0) return pred();
      if (!pump(static_cast<int>(std::min<long long>(left, 200))) && out_fd_ < 0 &&
          err_fd_ < 0 && exited_) {
        return pred();  // nothing more can ever come
      }
    }
    return true;
  }

  bool wait_stdout_contains(const std::string& s, milliseconds timeout) {
    return wait_until([&] { return out_.find(s) != std::string::npos; }, timeout);
  }
  bool wait_stderr_contains(const std::string& s, milliseconds timeout) {
    return wait_until([&] { return err_.find(s) != std::string::npos; }, timeout);
  }

  // The next stdout record ending in `term` (without it), consuming it; nullopt on timeout
  // or when stdout ended first.
  std::optional<std::string> next_record(char term, milliseconds timeout) {
    std::size_t pos = std::string::npos;
    wait_until(
        [&] {
          pos = out_.find(term, consumed_);
          return pos != std::string::npos || (out_fd_ < 0);
        },
        timeout);
    if (pos == std::string::npos) return std::nullopt;
    std::string rec = out_.substr(consumed_, pos - consumed_);
    consumed_ = pos + 1;
    return rec;
  }

  // Waits for the child to exit and for its stdout/stderr to reach EOF; returns the exit
  // code (128+signal when killed) or nullopt on timeout.
  std::optional<int> wait_exit(milliseconds timeout) {
    bool ok = wait_until([&] { return exited_ && out_fd_ < 0 && err_fd_ < 0; }, timeout);
    if (!ok) return std::nullopt;
    return exit_code_;
  }

  // Each thread's state, wchan and kernel stack (while the child runs): for hangs.
  std::string describe_threads() const {
    if (exited_) return "(exited)\n";
    std::string out;
    std::string task = "/proc/" + std::to_string(pid_) + "/task";
    DIR* d = ::opendir(task.c_str());
    if (!d) return "(no " + task + ")\n";
    while (dirent* e = ::readdir(d)) {
      std::string tid = e->d_name;
      if (tid == "." || tid == "..") continue;
      std::string base = task + "/" + tid;
      auto rd = [&](const std::string& f) {
        std::ifstream in(base + "/" + f);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
      };
      std::string stat = rd("stat");
      std::size_t close_paren = stat.rfind(')');
      std::string state = close_paren != std::string::npos && close_paren + 2 < stat.size()
                              ? stat.substr(close_paren + 2, 1) : "?";
      std::string fields = close_paren != std::string::npos ? stat.substr(close_paren + 2) : "";
      // utime and stime are fields 14 and 15 (12th and 13th after the state's position).
      std::istringstream fs(fields);
      std::vector<std::string> f;
      for (std::string x; fs >> x;) f.push_back(x);
      std::string cpu = f.size() > 12 ? " utime=" + f[11] + " stime=" + f[12] : "";
      out += "  tid " + tid + " state " + state + cpu + " wchan " + rd("wchan") + " syscall " + rd("syscall");
      std::string stack = rd("stack");
      if (!stack.empty()) out += "    " + stack.substr(0, 600);
    }
    ::closedir(d);
    return out;
  }

  std::string describe() const {
    std::ostringstream s;
    s << "lookout pid " << pid_ << (exited_ ? " exited " + std::to_string(exit_code_) : " running")
      << "\n--- stderr ---\n" << err_ << "--- stdout (" << out_.size() << " bytes, tail) ---\n"
      << (out_.size() > 4000 ? out_.substr(out_.size() - 4000) : out_);
    return s.str();
  }

 private:
  void drain(int& fd, std::string& buf) {
    char tmp[65536];
    for (;;) {
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n > 0) {
        buf.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {  // EOF
        ::close(fd);
        fd = -1;
      } else if (errno == EINTR) {
        continue;
      }
      return;  // EAGAIN or error
    }
  }

  void reap(bool block) {
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r != pid_) return;
    exited_ = true;
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1, pidfd_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string out_, err_;
  std::size_t consumed_ = 0;
};

// ---- JSON Lines -------------------------------------------------------------------------

inline void append_utf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A flat JSON object: strings are decoded, numbers/true/false/null kept as their text.
using JsonObject = std::map<std::string, std::string>;

// Parses one flat JSON object (the only shape `lookout watch --json` prints). nullopt on
// anything malformed, including trailing garbage.
inline std::optional<JsonObject> parse_json_line(const std::string& s) {
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  };
  auto hex4 = [&](std::uint32_t& v) {
    if (i + 4 > s.size()) return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  auto str = [&](std::string& out) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // raw control characters are not valid JSON
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (i >= s.size()) return false;
      char e = s[i++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            std::uint32_t lo;
            if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return false;
            i += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(cp, out);
          break;
        }
        default: return false;
      }
    }
    return false;
  };
  JsonObject obj;
  ws();
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  ++i;
  ws();
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      ws();
      std::string key, val;
      if (!str(key)) return std::nullopt;
      ws();
      if (i >= s.size() || s[i] != ':') return std::nullopt;
      ++i;
      ws();
      if (i < s.size() && s[i] == '"') {
        if (!str(val)) return std::nullopt;
      } else {
        std::size_t start = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ') ++i;
        val = s.substr(start, i - start);
        bool number = !val.empty() && val.find_first_not_of("-+.eE0123456789") == std::string::npos;
        if (!(number || val == "true" || val == "false" || val == "null")) return std::nullopt;
      }
      if (obj.count(key)) return std::nullopt;  // duplicate key
      obj[key] = val;
      ws();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  ws();
  if (i != s.size()) return std::nullopt;
  return obj;
}

inline std::optional<std::string> base64_decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[k] = val(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    std::uint32_t x = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(x >> 16));
    if (pad < 2) out.push_back(static_cast<char>((x >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(x & 0xFF));
  }
  return out;
}

// The raw bytes of a path field: "<key>_b64" decoded when present, else "<key>".
inline std::string json_path(const JsonObject& o, const std::string& key) {
  if (auto it = o.find(key + "_b64"); it != o.end()) {
    if (auto raw = base64_decode(it->second)) return *raw;
    return "<bad base64: " + it->second + ">";
  }
  auto it = o.find(key);
  return it == o.end() ? std::string() : it->second;
}

// Prints bytes readably for failure messages (escapes control and non-ASCII bytes).
inline std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

// ---- trees --------------------------------------------------------------------------------

using TreeSnapshot = std::map<std::string, bool>;  // relative path -> is_dir

inline void snapshot_into(const std::string& abs, const std::string& rel, TreeSnapshot& out) {
  DIR* d = ::opendir(abs.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string cabs = abs + "/" + name;
    std::string crel = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat(cabs.c_str(), &st) != 0) continue;
    bool dir = S_ISDIR(st.st_mode);
    out[crel] = dir;
    if (dir) snapshot_into(cabs, crel, out);
  }
  ::closedir(d);
}

// Every entry under `root` (not the root itself), by relative path.
inline TreeSnapshot snapshot_tree(const std::string& root) {
  TreeSnapshot t;
  snapshot_into(root, "", t);
  return t;
}

// Lists the differences, at most `limit` lines; empty when equal.
inline std::string diff_trees(const TreeSnapshot& expected_real, const TreeSnapshot& got,
                              std::size_t limit = 60) {
  std::string out;
  std::size_t n = 0;
  auto add = [&](const std::string& line) {
    if (n++ < limit) out += line + "\n";
  };
  for (const auto& [p, dir] : expected_real) {
    auto it = got.find(p);
    if (it == got.end()) {
      add("  on disk, missing from events: " + printable(p) + (dir ? "/" : ""));
    } else if (it->second != dir) {
      add("  type differs: " + printable(p) + (dir ? " is a dir on disk" : " is a file on disk"));
    }
  }
  for (const auto& [p, dir] : got) {
    if (!expected_real.count(p)) add("  from events, not on disk: " + printable(p) + (dir ? "/" : ""));
  }
  if (n > limit) out += "  ... and " + std::to_string(n - limit) + " more\n";
  return out;
}

// What a consumer of `lookout watch --json` knows about the tree: a starting snapshot plus
// every event applied in order.
class ConsumerTree {
 public:
  ConsumerTree(std::string root, TreeSnapshot start) : root_(std::move(root)), t_(std::move(start)) {}

  const TreeSnapshot& tree() const { return t_; }
  std::size_t rescans() const { return rescans_; }
  std::size_t applied() const { return applied_; }
  const std::vector<std::string>& anomalies() const { return anomalies_; }
  const std::map<std::string, std::size_t>& counts() const { return counts_; }

  // Applies one JSON line; returns false if it is not a valid event record.
  bool apply_line(const std::string& line) {
    auto o = parse_json_line(line);
    if (!o) {
      anomaly("unparsable line: " + printable(line));
      return false;
    }
    return apply(*o, line);
  }

  bool apply(const JsonObject& o, const std::string& line) {
    auto ev = o.find("event");
    if (ev == o.end()) {
      anomaly("no \"event\": " + printable(line));
      return false;
    }
    const std::string& kind = ev->second;
    if (kind == "ready") return true;
    ++applied_;
    ++counts_[kind];
    if (auto s = o.find("seq"); s != o.end()) {
      std::uint64_t seq = std::stoull(s->second);
      if (seq <= last_seq_) anomaly("seq not increasing: " + printable(line));
      last_seq_ = seq;
    }
    if (kind == "rescan") {
      ++rescans_;
      return true;
    }
    if (kind == "backend") return true;  // which mechanism watches a subtree: no change
    bool is_dir = o.count("is_dir") && o.at("is_dir") == "true";
    std::string rel;
    if (!relative(json_path(o, "path"), rel)) {
      anomaly("path outside the root: " + printable(line));
      return true;
    }
    if (rel.empty()) {
      if (kind != "modify" && kind != "attrib" && kind != "close_write") {
        anomaly("event on the root itself: " + printable(line));
      }
      return true;
    }
    if (kind == "create") {
      ensure_parents(rel, line);
      auto it = t_.find(rel);
      if (it != t_.end() && it->second != is_dir) {
        // A different object under the same name: the old one is gone.
        erase_subtree(rel);
      }
      t_[rel] = is_dir;
    } else if (kind == "delete") {
      if (!t_.count(rel)) anomaly("delete of unknown path: " + printable(line));
      erase_subtree(rel);
    } else if (kind == "rename") {
      std::string from;
      if (!relative(json_path(o, "from"), from) || from.empty()) {
        anomaly("rename from outside the root: " + printable(line));
        return true;
      }
      if (from == rel) return true;
      if (rel.size() > from.size() && rel.compare(0, from.size() + 1, from + "/") == 0) {
        anomaly("rename into its own subtree: " + printable(line));
        return true;
      }
      ensure_parents(rel, line);
      erase_subtree(rel);  // rename replaces what was at `path`
      auto it = t_.find(from);
      if (it == t_.end()) {
        anomaly("rename of unknown path: " + printable(line));
        t_[rel] = is_dir;
        return true;
      }
      bool from_dir = it->second;
      if (from_dir != is_dir) anomaly("rename changes is_dir: " + printable(line));
      std::vector<std::pair<std::string, bool>> moved;
      std::string prefix = from + "/";
      for (auto c = t_.lower_bound(prefix); c != t_.end() && c->first.compare(0, prefix.size(), prefix) == 0; ++c) {
        moved.emplace_back(rel + "/" + c->first.substr(prefix.size()), c->second);
      }
      erase_subtree(from);
      t_[rel] = from_dir;
      for (auto& [p, d] : moved) t_[p] = d;
    } else if (kind == "modify" || kind == "close_write" || kind == "attrib") {
      if (!t_.count(rel)) anomaly(kind + " of unknown path: " + printable(line));
    } else {
      anomaly("unexpected event: " + printable(line));
    }
    return true;
  }

  std::string anomaly_report(std::size_t limit = 30) const {
    std::string out;
    for (std::size_t i = 0; i < anomalies_.size() && i < limit; ++i) out += "  " + anomalies_[i] + "\n";
    if (anomalies_.size() > limit) out += "  ... " + std::to_string(anomalies_.size() - limit) + " more\n";
    return out;
  }

 private:
  bool relative(const std::string& abs, std::string& rel) const {
    if (abs == root_) {
      rel.clear();
      return true;
    }
    if (abs.size() > root_.size() && abs.compare(0, root_.size(), root_) == 0 && abs[root_.size()] == '/') {
      rel = abs.substr(root_.size() + 1);
      return true;
    }
    return false;
  }
  void ensure_parents(const std::string& rel, const std::string& line) {
    for (std::size_t pos = rel.find('/'); pos != std::string::npos; pos = rel.find('/', pos + 1)) {
      std::string parent = rel.substr(0, pos);
      auto it = t_.find(parent);
      if (it == t_.end() || !it->second) {
        anomaly("parent " + printable(parent) + " unknown for: " + printable(line));
        t_[parent] = true;
      }
    }
  }
  void erase_subtree(const std::string& rel) {
    t_.erase(rel);
    std::string prefix = rel + "/";
    auto it = t_.lower_bound(prefix);
    while (it != t_.end() && it->first.compare(0, prefix.size(), prefix) == 0) it = t_.erase(it);
  }
  void anomaly(std::string s) { anomalies_.push_back(std::move(s)); }

  std::string root_;
  TreeSnapshot t_;
  std::size_t rescans_ = 0, applied_ = 0;
  std::uint64_t last_seq_ = 0;
  std::vector<std::string> anomalies_;
  std::map<std::string, std::size_t> counts_;
};

// ---- misc -----------------------------------------------------------------------------------

inline std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The lines of a small file (none when it cannot be read).
inline std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> out;
  auto data = read_small_file(path);
  if (!data) return out;
  std::istringstream in(*data);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

inline bool write_small_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

// One open(O_APPEND), one write, one close: the kernel reports open, modify, close_write.
inline bool append_small_file(const std::string& path, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

using testing::SysctlOverride;


// Starts `lookout ARGS` (which must include --json) with its kernel queue limited to
// `max_queued_events`: `sysctl` (inotify's or fanotify's max_queued_events) is lowered only
// until lookout's ready line (the kernel fixes an instance's queue size when it is created)
// and restored at once, also on every failure path. Root only. On failure returns nullptr
// and sets `error`.
inline std::unique_ptr<LookoutProcess> start_with_small_queue(
    const std::vector<std::string>& args, int max_queued_events, std::string& error,
    const std::string& sysctl = "/proc/sys/fs/inotify/max_queued_events") {
  SysctlOverride small(sysctl, std::to_string(max_queued_events));
  if (!small.valid()) {
    error = "cannot lower " + sysctl;
    return nullptr;
  }
  auto p = std::make_unique<LookoutProcess>(args);
  auto ready = p->next_record('\n', milliseconds(20000));
  if (!small.restore()) error = "could not restore max_queued_events to " + small.old_value();
  if (!ready || *ready != "{\"event\":\"ready\"}") {
    error += "no ready line\n" + p->describe();
    return nullptr;
  }
  if (!error.empty()) return nullptr;
  return p;
}

// True once every thread of `pid` is stopped (state T in /proc/PID/task/*/stat).
inline bool wait_stopped(pid_t pid, milliseconds timeout) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  const auto end = Clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (const auto& t : std::filesystem::directory_iterator(tasks)) {
      auto stat = read_small_file(t.path().string() + "/stat");
      auto paren = stat ? stat->rfind(") ") : std::string::npos;
      if (paren == std::string::npos || stat->substr(paren + 2, 1) != "T") all = false;
    }
    if (all) return true;
    if (Clock::now() > end) return false;
    std::this_thread::yield();
  }
}

// Waits, with inotify and a deadline, until the file at `path` contains `needle`.
inline bool wait_file_contains(const std::string& path, const std::string& needle, milliseconds timeout) {
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return false;
  ::inotify_add_watch(fd, path.c_str(), IN_MODIFY | IN_CLOSE_WRITE);
  auto end = Clock::now() + timeout;
  bool found = false;
  for (;;) {
    auto data = read_small_file(path);
    if (data && data->find(needle) != std::string::npos) {
      found = true;
      break;
    }
    auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000))) > 0) {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    }
  }
  ::close(fd);
  return found;
}

}  // namespace lookout::e2e
