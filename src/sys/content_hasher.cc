#include "sys/content_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>

#include "sys/fs.h"

namespace lookout::sys {

namespace {
// Large enough that read() overhead is noise next to hashing (XXH3 runs at several GB/s),
// small enough to stay in L2.
constexpr std::size_t kBufferSize = 256 * 1024;
}  // namespace

struct ContentHasher::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

ContentHasher::ContentHasher() : state_(std::make_unique<State>()), buf_(kBufferSize) {}
ContentHasher::~ContentHasher() = default;

int ContentHasher::hash_at(Fs& fs, int dirfd, const char* name, std::uint64_t expected_ino,
                           std::uint64_t& out) {
  if (!state_->xxh) return ENOMEM;
  // O_NONBLOCK: never block on a lease or a mandatory lock; O_NOCTTY for safety.
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  int opened = fs.open_file_at(dirfd, name, flags | O_NOATIME);
  // O_NOATIME is refused (EPERM) on files the caller does not own without CAP_FOWNER.
  if (opened == -EPERM) opened = fs.open_file_at(dirfd, name, flags);
  if (opened < 0) return -opened;
  FsFd fd(fs, opened);
  FileStat st;
  if (int err = fs.fstat(fd.get(), st); err != 0) return err;
  if (st.type != FileType::file || st.ino != expected_ino) return ESTALE;
  if (st.size > buf_.size()) fs.advise_sequential(fd.get());  // larger readahead
  XXH3_64bits_reset(state_->xxh);
  for (;;) {
    ssize_t n = fs.read(fd.get(), buf_.data(), buf_.size());
    if (n < 0) return static_cast<int>(-n);
    XXH3_64bits_update(state_->xxh, buf_.data(), static_cast<std::size_t>(n));
    bytes_read_ += static_cast<std::uint64_t>(n);
    // A short read of a regular file is its end: skipping the read() that returns 0 saves a
    // syscall per small file. A file still growing moves its ctime and is hashed again.
    if (static_cast<std::size_t>(n) < buf_.size()) break;
  }
  out = XXH3_64bits_digest(state_->xxh);
  return 0;
}

}  // namespace lookout::sys
