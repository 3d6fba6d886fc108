// Posting a batch to a URL (`lookout run --post URL`): {"count":N,"changes":[records as in
// `watch --json --json-stat`]}, through net::http_post (cpp-httplib: http and https). One try per call: the
// Runner spaces the retries, so a slow or dead endpoint never holds its loop longer than one
// try's timeout. Thread-compatible (one instance per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lookout/event.h"
#include "lookout/result.h"

namespace lookout::run {

struct PostTarget {
  std::string scheme_host_port;  // "http://127.0.0.1:8080"
  std::string path;              // "/-/reload" ("/" when the URL has none)
};

// Splits an http:// or https:// URL; an Error naming the URL and what is wrong otherwise.
Result<PostTarget> parse_post_url(const std::string& url);

// The JSON body for a batch.
std::string post_body(const std::vector<Event>& batch);

struct PostOutcome {
  int status = 0;        // the HTTP status, 0 when no response came
  std::string error;     // why there was no response (refused, timeout, ...)
};

// One POST of `body`, waiting at most `timeout_ms` to connect and as long for the answer.
PostOutcome post_once(const PostTarget& target, const std::string& body, std::int64_t timeout_ms);

}  // namespace lookout::run
