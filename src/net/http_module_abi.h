// The C interface between lookout and its HTTP module (lookout-http.so, http_module.cc):
// plain C types only, so the binary and the module need not agree on a C++ ABI. The symbol
// name carries the interface version; a change of signature takes a new name.
#pragma once

#include <cstddef>

extern "C" {
// POSTs `body` to `base` + `path`. Returns the HTTP status, or 0 with the reason in `error`
// (NUL-terminated, truncated to `error_size`).
using LookoutHttpPostFn = int (*)(const char* base, const char* path, const char* body,
                                  std::size_t body_size, const char* content_type,
                                  long long timeout_ms, char* error, std::size_t error_size);
}

inline constexpr const char* kLookoutHttpPostSymbol = "lookout_http_post_v1";
inline constexpr const char* kLookoutHttpModuleName = "lookout-http.so";
