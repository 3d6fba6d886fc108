#include "sync/reach_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "sync/target_spec.h"

namespace lookout::sync {

namespace {
bool numeric(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

int parse_port(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return 0;
  const int p = std::stoi(s);
  return p > 0 && p < 65536 ? p : 0;
}
}  // namespace

std::optional<ProbeAddress> probe_address(const TargetSpec& t) {
  if (t.kind == TargetKind::local) return std::nullopt;
  std::string hostport = target_host(t);
  ProbeAddress a;
  a.port = t.kind == TargetKind::rsync_daemon ? 873 : 22;
  if (!hostport.empty() && hostport[0] == '[') {  // [v6]:port
    const std::size_t close = hostport.find(']');
    if (close == std::string::npos) return std::nullopt;
    a.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') a.port = parse_port(hostport.substr(close + 2));
  } else if (t.kind == TargetKind::rsync_daemon && hostport.find(':') != std::string::npos &&
             hostport.find(':') == hostport.rfind(':')) {
    a.host = hostport.substr(0, hostport.find(':'));
    a.port = parse_port(hostport.substr(hostport.find(':') + 1));
  } else {
    a.host = hostport;
  }
  if (t.kind == TargetKind::ssh) {
    // ssh's own port option in --ssh-command: "-p 2222" or "-p2222".
    const std::vector<std::string> w = ssh_command_words(t);
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (w[i] == "-p" && i + 1 < w.size()) a.port = parse_port(w[i + 1]);
      else if (w[i].rfind("-p", 0) == 0 && w[i].size() > 2) a.port = parse_port(w[i].substr(2));
    }
  }
  if (a.port == 0 || !numeric(a.host)) return std::nullopt;
  return a;
}

ReachProbe::ReachProbe(const ProbeAddress& a) {
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr_);
  if (::inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(a.port));
    len_ = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(a.port));
    len_ = sizeof(sockaddr_in6);
  }
}

void ReachProbe::reset() {
  fd_.reset();
  started_ms_ = INT64_MIN / 2;
}

std::int64_t ReachProbe::next_due_ms() const {
  return fd_.valid() ? started_ms_ + kEveryMs / 5 : started_ms_ + kEveryMs;
}

bool ReachProbe::reachable(std::int64_t now_ms) {
  if (!valid()) return false;
  if (fd_.valid()) {
    int err = 0;
    socklen_t len = sizeof err;
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 &&
        ::getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
      fd_.reset();
      return true;
    }
    if (err != 0 || now_ms - started_ms_ >= kTimeoutMs) fd_.reset();  // refused, unreachable, or too slow
    return false;
  }
  if (now_ms < started_ms_ + kEveryMs) return false;
  started_ms_ = now_ms;
  fd_ = sys::UniqueFd(::socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_.valid()) return false;
  if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&addr_), len_) == 0) {
    fd_.reset();
    return true;
  }
  if (errno != EINPROGRESS) fd_.reset();
  return false;
}

}  // namespace lookout::sync
