#include "run/http_post.h"

#include "net/http_client.h"
#include "sink/json_format.h"

namespace lookout::run {

Result<PostTarget> parse_post_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, url, "--post: '" + url + "' " + why};
  };
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad("is not a URL (e.g. http://127.0.0.1:9090/-/reload)");
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return bad("is not an http:// or https:// URL");
  const auto path_start = url.find('/', scheme_end + 3);
  std::string host_port = url.substr(scheme_end + 3, path_start == std::string::npos ? std::string::npos
                                                                                   : path_start - scheme_end - 3);
  if (host_port.empty() || host_port.front() == ':') return bad("names no host");
  if (auto colon = host_port.rfind(':'); colon != std::string::npos && host_port.back() != ']') {
    const std::string port = host_port.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) == 0 || std::stoi(port) > 65535) {
      return bad("has no valid port");
    }
  }
  return PostTarget{scheme + "://" + host_port, path_start == std::string::npos ? "/" : url.substr(path_start)};
}

std::string post_body(const std::vector<Event>& batch) {
  std::string body = "{\"count\":" + std::to_string(batch.size()) + ",\"changes\":[";
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i > 0) body.push_back(',');
    sink::format_json(batch[i], body, true);
  }
  body += "]}";
  return body;
}

PostOutcome post_once(const PostTarget& target, const std::string& body, std::int64_t timeout_ms) {
  net::HttpOutcome got = net::http_post(target.scheme_host_port, target.path, body, "application/json",
                                        timeout_ms);
  return PostOutcome{got.status, std::move(got.error)};
}

}  // namespace lookout::run
