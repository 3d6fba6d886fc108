// ContentHasher: XXH3-64 of a regular file's contents, read through one bounded buffer (no
// mmap, so a huge or truncated-under-us file cannot fault or pin memory). Used only with
// --checksum. One instance per thread: it owns the buffer and the hash state.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace lookout::sys {

class Fs;

class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  // Hashes `name` in `dirfd` (an fd from fs.open_dir(); not following symlinks; O_NOATIME
  // where the caller owns the file or has CAP_FOWNER, so hashing does not look like a read to
  // atime users). `expected_ino` is the inode the caller stat'ed: a different one behind the
  // name (replaced in between) gives ESTALE. Returns 0 or an errno.
  int hash_at(Fs& fs, int dirfd, const char* name, std::uint64_t expected_ino,
              std::uint64_t& out);

  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::vector<char> buf_;
  std::uint64_t bytes_read_ = 0;
};

}  // namespace lookout::sys
