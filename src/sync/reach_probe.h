// ReachProbe: while a target cannot be reached (rsync exit 10 or 35, ssh's 255), a TCP
// connect to its address every kEveryMs tells when it is back, so the catch-up starts then
// rather than at the end of the backoff (which grows to --retry-max). Only for connection
// failures: a daemon that answers but refuses (a wrong password) keeps its backoff, or it
// would be asked every half second. Non-blocking: a connect is started at one step and looked
// at in the next ones. Numeric addresses only: a DNS lookup could block the loop, so a target
// named by host name waits for its backoff. One thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "sync/sync_options.h"
#include "sys/unique_fd.h"

namespace lookout::sync {

struct ProbeAddress {
  std::string host;  // numeric IPv4 or IPv6
  int port = 0;
};
// rsync:// targets: host and port (873 by default); ssh targets: host and ssh's -p (22 by
// default). nullopt for local targets and for host names. Pure.
std::optional<ProbeAddress> probe_address(const TargetSpec& t);

class ReachProbe {
 public:
  static constexpr std::int64_t kEveryMs = 500;
  static constexpr std::int64_t kTimeoutMs = 2000;

  explicit ReachProbe(const ProbeAddress& a);
  bool valid() const { return len_ > 0; }
  // True once a connect to the address succeeded (the connection is closed at once).
  bool reachable(std::int64_t now_ms);
  // When reachable() has something to do next.
  std::int64_t next_due_ms() const;
  void reset();

 private:
  sockaddr_storage addr_{};
  socklen_t len_ = 0;
  sys::UniqueFd fd_;
  std::int64_t started_ms_ = INT64_MIN / 2;
};

}  // namespace lookout::sync
