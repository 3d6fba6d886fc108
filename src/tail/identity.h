// File identity for tail, and the rotation rules that use it. A file is (dev, inode) plus a
// fingerprint: the length and XXH3-64 of its first bytes, growing with the file up to
// kFingerprintMax. No minimum size (a 10-byte file has a 10-byte fingerprint), so:
//   - two files with the same first line are two files (different inodes);
//   - an inode seen again whose first fp.length bytes differ is a new file (inode reuse);
//   - a file that is shorter than the offset read from it was truncated (copytruncate);
//   - a new file whose first bytes equal a tracked file's fingerprint and whose name is that
//     file's name plus a suffix ("app.log.1", "app.log-20261206") is its copy (copytruncate's
//     copy), read from the original's offset, not from 0.
// decide() and is_copy_name() are pure; read_fingerprint() does one pread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lookout::tail {

inline constexpr std::uint64_t kFingerprintMax = 1024;

struct Fingerprint {
  std::uint64_t length = 0;  // bytes hashed (min(file size, kFingerprintMax) when taken)
  std::uint64_t hash = 0;    // XXH3-64 of those bytes (0 for length 0)
  bool operator==(const Fingerprint&) const = default;
};

Fingerprint fingerprint_of(std::string_view first_bytes);
// The first min(limit, size) bytes of the open file `fd` into `out`; false when unreadable.
bool read_head(int fd, std::uint64_t limit, std::string& out);
// The fingerprint of the first min(limit, size) bytes of the open file `fd`; nullopt-like
// `ok=false` when it cannot be read.
bool read_fingerprint(int fd, std::uint64_t limit, Fingerprint& out);

// What a known file has become, judged from a fresh look at the same (dev, inode).
enum class Verdict {
  same,       // read on from the offset
  truncated,  // shorter than the offset: read from 0, say so
  replaced,   // its first bytes changed: another file on a reused inode, read from 0
};

struct Known {
  std::uint64_t offset = 0;  // read up to here
  Fingerprint fp;            // as taken when read
};
struct Seen {
  std::uint64_t size = 0;
  Fingerprint prefix;  // the file's first known.fp.length bytes now (length may be shorter)
};

Verdict decide(const Known& known, const Seen& seen);

// True when `name` is `original` plus a rotation suffix: ".1", "-20261206", ".old", ".1.gz"
// (a dot, dash or underscore and anything). Names only, no directories.
bool is_copy_name(std::string_view original, std::string_view name);

}  // namespace lookout::tail
