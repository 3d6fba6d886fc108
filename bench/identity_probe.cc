// identity_probe: measures what each candidate file-identity discriminator costs and whether it
// tells a reused inode number apart (issue 3; numbers and the decision in docs/design.md
// "Identity"; run it with bench/identity_probe.sh). Standalone, no engine code: it must measure the syscalls alone.
//   identity_probe make DIR FILES          FILES files in DIR/dNNN (100 per directory)
//   identity_probe scan DIR METHOD [REPS]  walks DIR, prints seconds per walk (best of REPS)
//   identity_probe reuse DIR ROUNDS METHOD create a, stat it, rm a, create b with a's size and
//                                          mtime: counts inode reuse and how often METHOD
//                                          still tells a from b
// METHOD: fstatat | statx_btime | btime_unqueried (see identify()) | getversion (fstatat + open + FS_IOC_GETVERSION + close)
//         | handle (statx + name_to_handle_at, the handle carries ino+generation)
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class Method { fstatat, statx_btime, btime_unqueried, getversion, handle };

struct Id {
  std::uint64_t ino = 0;
  std::int64_t btime_ns = 0;
  bool btime_known = false;
  std::uint64_t extra = 0;  // generation or handle hash
  bool extra_known = false;
};

std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

bool identify(int dirfd, const char* name, Method m, Id& out) {
  switch (m) {
    case Method::fstatat: {
      struct stat st;
      if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
      out.ino = st.st_ino;
      return true;
    }
    case Method::statx_btime:
    case Method::btime_unqueried:
    case Method::handle: {
      // btime_unqueried asks for no mtime/ctime, so (kernel >= 6.13) the inode is not flagged
      // as queried and its next timestamps stay coarse: what every kernel before multigrain
      // timestamps does.
      unsigned mask = m == Method::btime_unqueried ? STATX_INO | STATX_BTIME : STATX_BASIC_STATS | STATX_BTIME;
      struct statx sx;
      if (::statx(dirfd, name, AT_SYMLINK_NOFOLLOW, mask, &sx) != 0) return false;
      out.ino = sx.stx_ino;
      out.btime_known = sx.stx_mask & STATX_BTIME;
      out.btime_ns = sx.stx_btime.tv_sec * 1000000000ll + sx.stx_btime.tv_nsec;
      if (m == Method::handle) {
        struct {
          file_handle fh;
          unsigned char buf[MAX_HANDLE_SZ];
        } h;
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        int mount_id;
        if (::name_to_handle_at(dirfd, name, &h.fh, &mount_id, 0) == 0) {
          out.extra = fnv1a(h.fh.f_handle, h.fh.handle_bytes);
          out.extra_known = true;
        }
      }
      return true;
    }
    case Method::getversion: {
      struct stat st;
      if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
      out.ino = st.st_ino;
      if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        int fd = ::openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
          int gen = 0;
          if (::ioctl(fd, FS_IOC_GETVERSION, &gen) == 0) {
            out.extra = static_cast<std::uint32_t>(gen);
            out.extra_known = true;
          }
          ::close(fd);
        }
      }
      return true;
    }
  }
  return false;
}

Method parse_method(const char* s) {
  std::string m = s;
  if (m == "fstatat") return Method::fstatat;
  if (m == "statx_btime") return Method::statx_btime;
  if (m == "btime_unqueried") return Method::btime_unqueried;
  if (m == "getversion") return Method::getversion;
  if (m == "handle") return Method::handle;
  std::fprintf(stderr, "unknown method %s\n", s);
  std::exit(2);
}

std::size_t walk(const std::string& dir, Method m) {
  std::size_t n = 0;
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  DIR* d = ::fdopendir(fd);
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    Id id;
    if (identify(fd, e->d_name, m, id)) ++n;
    if (e->d_type == DT_DIR) subdirs.push_back(dir + "/" + e->d_name);
  }
  ::closedir(d);
  for (auto& s : subdirs) n += walk(s, m);
  return n;
}

void write_bytes(const std::string& path, const char* data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, data, std::strlen(data)) < 0) std::perror(path.c_str());
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: see the header comment\n");
    return 2;
  }
  std::string cmd = argv[1], dir = argv[2];
  if (cmd == "make" && argc >= 4) {
    long files = std::atol(argv[3]);
    for (long i = 0; i < files; ++i) {
      std::string sub = dir + "/d" + std::to_string(i / 100);
      if (i % 100 == 0) ::mkdir(sub.c_str(), 0755);
      write_bytes(sub + "/f" + std::to_string(i), "x");
    }
    return 0;
  }
  if (cmd == "scan" && argc >= 4) {
    Method m = parse_method(argv[3]);
    int reps = argc >= 5 ? std::atoi(argv[4]) : 3;
    double best = 1e9;
    std::size_t n = 0;
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      n = walk(dir, m);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s < best) best = s;
    }
    std::printf("%s entries=%zu best_s=%.4f us_per_entry=%.3f\n", argv[3], n, best, best * 1e6 / n);
    return 0;
  }
  if (cmd == "reuse" && argc >= 5) {
    int rounds = std::atoi(argv[3]);
    Method m = parse_method(argv[4]);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int reused = 0, told_apart = 0, btime_equal = 0;
    for (int r = 0; r < rounds; ++r) {
      // Same size and mtime for a and b: only identity can tell them apart.
      struct timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
      write_bytes(dir + "/a", "same");
      ::utimensat(dfd, "a", times, 0);
      Id a, b;
      identify(dfd, "a", m, a);  // the scan that saw a
      ::unlinkat(dfd, "a", 0);
      write_bytes(dir + "/b", "same");
      ::utimensat(dfd, "b", times, 0);
      identify(dfd, "b", m, b);
      ::unlinkat(dfd, "b", 0);
      if (a.ino != b.ino) continue;
      ++reused;
      bool differ = (a.btime_known && b.btime_known && a.btime_ns != b.btime_ns) ||
                    (a.extra_known && b.extra_known && a.extra != b.extra);
      btime_equal += a.btime_known && b.btime_known && a.btime_ns == b.btime_ns;
      told_apart += differ;
    }
    std::printf("%s rounds=%d reused=%d told_apart=%d btime_equal=%d\n", argv[4], rounds, reused,
                told_apart, btime_equal);
    return 0;
  }
  std::fprintf(stderr, "bad arguments\n");
  return 2;
}
