// Result<T>: a value or an Error, the library's only way to report failure.
// Error carries the errno, the path involved, a message that names the fix and the cause as
// data; the command line decides exit codes, the library never exits.
// Its reading side is a subset of std::expected<T, Error>'s (C++23): has_value(), explicit
// bool, value(), operator* and operator->, error(). It is not a drop-in replacement:
//   - an Error converts implicitly (`return error;`); std::expected needs
//     `return std::unexpected(error);`, so moving to it means rewriting those returns;
//   - value() on an error throws std::bad_variant_access (std::expected: bad_expected_access),
//     and Result<void> has no value();
//   - there is no value_or, and_then, transform, or_else, emplace or comparison.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace lookout {

enum class ErrorCode {
  ok = 0,
  not_found,          // the path does not exist
  permission_denied,  // EACCES/EPERM
  watch_limit,        // ENOSPC from inotify_add_watch: max_user_watches reached
  instance_limit,     // EMFILE from inotify_init: max_user_instances reached
  not_a_directory,
  invalid_argument,
  io,                 // any other syscall failure
  root_gone,          // the watched root was deleted, moved or unmounted
  unsupported,        // the kernel or filesystem lacks what was asked (fanotify on FUSE, ...)
  interrupted,        // a stop was requested (request_stop) before start() finished
};

// Why, as data, where a front end must add advice in its own terms: a CLI names the flag to
// use, a daemon its configuration key. The library's messages never name a CLI flag; the
// cause says which WatchOptions field or fact is behind one, and Error's path and sys_errno
// hold the facts (cmd/lookout/diagnostic_words.h words them for the command line).
enum class Cause : std::uint8_t {
  none = 0,
  poll_asked,           // WatchOptions::backend poll: `path` is polled (a decision, code ok)
  fanotify_asked,       // WatchOptions::backend fanotify: `path`'s filesystem marked (code ok)
  overlay_poll_asked,   // WatchOptions::poll_overlay: the overlay mount `path` is polled (code ok)
  fanotify_unusable,    // fanotify_init or fanotify_mark failed with sys_errno for `path`
  checksum_unreadable,  // WatchOptions::checksum: `path` could not be read (sys_errno)
  unknown_event_name,   // an inotifywait event name that does not exist (`path`: the name)
};

struct Error {
  ErrorCode code = ErrorCode::io;
  int sys_errno = 0;
  std::string path;
  std::string message;  // full sentence for a human, already names path and fix
  Cause cause = Cause::none;
  // The limit that was reached, when one was and could be read (-1: none or unknown):
  // max_user_watches (watch_limit), max_user_instances (instance_limit), the process's
  // RLIMIT_NOFILE or fs.file-max (EMFILE, ENFILE in sys_errno).
  std::int64_t limit = -1;
};

// Maps an errno from a syscall on `path` to an Error whose message reads
// "<what> <path>: <strerror> (<hint>)".
Error error_from_errno(int err, std::string_view what, std::string_view path,
                       std::string_view hint = {});

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}       // NOLINT: implicit like std::expected
  Result(Error error) : v_(std::move(error)) {}   // NOLINT
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace lookout
