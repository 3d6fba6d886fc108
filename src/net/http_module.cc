// lookout-http.so: cpp-httplib behind the C interface of http_module_abi.h. Built as a
// separate module so that only a process that makes a request maps libssl and libcrypto
// (see http_client.h).
#include <httplib.h>

#include <chrono>
#include <cstring>
#include <string>

#include "net/http_module_abi.h"

extern "C" __attribute__((visibility("default"))) int lookout_http_post_v1(
    const char* base, const char* path, const char* body, std::size_t body_size,
    const char* content_type, long long timeout_ms, char* error, std::size_t error_size) {
  static_assert(std::is_same_v<decltype(&lookout_http_post_v1), LookoutHttpPostFn>);
  auto fail = [&](const std::string& why) {
    if (error_size > 0) {
      std::size_t n = std::min(why.size(), error_size - 1);
      std::memcpy(error, why.data(), n);
      error[n] = '\0';
    }
    return 0;
  };
  try {
    httplib::Client client(base);
    const auto t = std::chrono::milliseconds(timeout_ms);
    client.set_connection_timeout(t);
    client.set_read_timeout(t);
    client.set_write_timeout(t);
    auto res = client.Post(path, body, body_size, content_type);
    if (!res) return fail(httplib::to_string(res.error()));
    return res->status;
  } catch (const std::exception& e) {
    return fail(e.what());  // never let an exception cross the C interface
  }
}
