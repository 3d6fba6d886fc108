// HTTP requests for the front ends (`run --post`; later the daemon's webhooks), made by
// cpp-httplib inside a module, lookout-http.so, that is loaded on first use. cpp-httplib as
// Debian builds it links libssl, libcrypto, zlib and brotli: mapped into every `lookout`, they
// were 3.7 MiB of resident pages (of 9.3 MiB for a small `watch`) that no command without a
// URL needs. Thread-safe: the module is loaded once; each call is independent.
#pragma once

#include <cstdint>
#include <string>

#include "lookout/result.h"

namespace lookout::net {

// Loads lookout-http.so from beside the running binary, else from the install's module
// directory. An Error naming both places, dlopen's reason and the fix when neither works.
Result<void> load_http_module();

struct HttpOutcome {
  int status = 0;      // the HTTP status, 0 when no response came
  std::string error;   // why there was no response (refused, timeout, module missing, ...)
};

// One POST to `base` ("http://host:port" or "https://...") + `path`, waiting at most
// `timeout_ms` to connect, to send and for the answer. Loads the module if needed.
HttpOutcome http_post(const std::string& base, const std::string& path, const std::string& body,
                      const std::string& content_type, std::int64_t timeout_ms);

}  // namespace lookout::net
