// Result<T>: a value or an Error, the library's only way to report failure.
// A small subset of std::expected's API (C++23) so call sites can move to it unchanged.
// Error carries the errno, the path involved and a message that names the fix; the
// command line decides exit codes, the library never exits.
#pragma once

#include <cerrno>
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

struct Error {
  ErrorCode code = ErrorCode::io;
  int sys_errno = 0;
  std::string path;
  std::string message;  // full sentence for a human, already names path and fix
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
  T* operator->() { return &value(); }
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
