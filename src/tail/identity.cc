#include "tail/identity.h"

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <string>

namespace lookout::tail {

Fingerprint fingerprint_of(std::string_view b) {
  Fingerprint f;
  f.length = b.size();
  f.hash = b.empty() ? 0 : XXH3_64bits(b.data(), b.size());
  return f;
}

bool read_fingerprint(int fd, std::uint64_t limit, Fingerprint& out) {
  std::string buf;
  if (!read_head(fd, limit, buf)) return false;
  out = fingerprint_of(buf);
  return true;
}

bool read_head(int fd, std::uint64_t limit, std::string& buf) {
  buf.assign(static_cast<std::size_t>(limit), '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  return true;
}

Verdict decide(const Known& known, const Seen& seen) {
  // Shorter than what was read: truncated in place, whatever its first bytes are now (a
  // rewrite from 0 that already passed the old offset is caught by the prefix below).
  if (seen.size < known.offset) return Verdict::truncated;
  if (known.fp.length == 0) return Verdict::same;  // nothing read yet: nothing to compare
  if (seen.prefix.length < known.fp.length) return Verdict::truncated;
  if (seen.prefix.hash != known.fp.hash) return Verdict::replaced;
  return Verdict::same;
}

bool is_copy_name(std::string_view original, std::string_view name) {
  if (original.empty() || name.size() <= original.size() + 1) return false;
  if (name.substr(0, original.size()) != original) return false;
  const char sep = name[original.size()];
  return sep == '.' || sep == '-' || sep == '_';
}

}  // namespace lookout::tail
