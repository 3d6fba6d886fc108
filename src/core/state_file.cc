#include "core/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace lookout::core {

namespace {
constexpr char kMagic[] = "LOOKOUT-STATE\n";
// Version 2 added the birth stamp (sys::BirthKind). Version 1 files still load, without
// one, so an upgrade does not turn "changes since the last run" into a fresh start.
constexpr std::uint32_t kVersion = 2;

struct Writer {
  std::string buf;
  template <typename T>
  void put(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(std::string_view s) {
    put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    buf += s;
  }
};

struct Reader {
  const std::string& buf;
  std::size_t pos = 0;
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (pos + sizeof v > buf.size()) {
      ok = false;
      return v;
    }
    std::memcpy(&v, buf.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    auto n = get<std::uint32_t>();
    if (!ok || pos + n > buf.size()) {
      ok = false;
      return {};
    }
    std::string s = buf.substr(pos, n);
    pos += n;
    return s;
  }
};

std::string dir_of(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : file.substr(0, slash);
}

// Reads up to `max` bytes of a regular file (O_NOFOLLOW, O_NONBLOCK: never a symlink's target,
// never blocks on a fifo swapped in). Returns errno, 0 on success.
int read_prefix(const std::string& file, std::size_t max, std::string& out) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    ::close(fd);
    return err;
  }
  out.clear();
  char buf[65536];
  while (out.size() < max) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return 0;
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

void put_stat(Writer& w, const sys::FileStat& st, bool stat_known) {
  w.put<std::uint8_t>(static_cast<std::uint8_t>(st.type));
  w.put<std::uint8_t>(stat_known ? 1 : 0);
  w.put(st.dev);
  w.put(st.ino);
  w.put(st.size);
  w.put(st.mtime_ns);
  w.put(st.ctime_ns);
  w.put(st.mode);
  w.put<std::uint8_t>(static_cast<std::uint8_t>(st.birth_kind));
  w.put(st.birth);
}

sys::FileStat get_stat(Reader& r, std::uint32_t version, bool& known) {
  sys::FileStat st;
  st.type = static_cast<sys::FileType>(r.get<std::uint8_t>());
  known = r.get<std::uint8_t>() != 0;
  st.dev = r.get<std::uint64_t>();
  st.ino = r.get<std::uint64_t>();
  st.size = r.get<std::uint64_t>();
  st.mtime_ns = r.get<std::int64_t>();
  st.ctime_ns = r.get<std::int64_t>();
  st.mode = r.get<std::uint32_t>();
  if (version >= 2) {
    auto kind = r.get<std::uint8_t>();
    st.birth = r.get<std::uint64_t>();
    if (kind > static_cast<std::uint8_t>(sys::BirthKind::generation)) r.ok = false;
    st.birth_kind = static_cast<sys::BirthKind>(kind);
  }
  return st;
}
}  // namespace

Result<void> save_state(const TreeModel& model, const std::string& file) {
  Writer w;
  w.buf = kMagic;
  w.put(kVersion);
  std::vector<NodeId> roots = model.children(kTopNode);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(roots.size()));
  for (NodeId root : roots) {
    // Pre-order with the parent's index in this list, so loading needs no path lookups.
    std::vector<std::pair<NodeId, std::uint32_t>> stack{{root, 0xffffffffu}};
    std::vector<std::pair<NodeId, std::uint32_t>> order;
    while (!stack.empty()) {
      auto [id, parent_index] = stack.back();
      stack.pop_back();
      auto index = static_cast<std::uint32_t>(order.size());
      order.emplace_back(id, parent_index);
      model.for_each_child(id, [&](NodeId c) { stack.emplace_back(c, index); });
    }
    w.put<std::uint64_t>(order.size());
    for (auto& [id, parent_index] : order) {
      w.put(parent_index);
      w.str(model.name(id));
      put_stat(w, model.stat(id), model.stat_known(id));
    }
  }
  w.put<std::uint32_t>(0x4C4B4F54);  // trailer: detects truncation
  // Never replace what is not ours (checked again here: the file may have changed since
  // start), and never through a symlink: rename() replaces the link, not its target.
  if (auto target = check_state_target(file); !target) {
    return target.error();
  } else if (*target == StateTarget::foreign) {
    return Error{ErrorCode::invalid_argument, 0, file,
                 "will not replace " + file + ": it is not a lookout state file (move it away or "
                 "choose another state file path)"};
  }
  // A fresh temp name (O_EXCL) in the same directory: rename() is atomic only within one
  // filesystem, and a fixed name could be an existing file or a planted symlink.
  std::string tmp = file + ".tmp.XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return error_from_errno(err, "cannot write state file", file,
                            err == ENOSPC ? "the disk is full: free space there or choose another state file path"
                                          : "check its directory exists and is writable, or choose another state file path");
  }
  std::size_t off = 0;
  while (off < w.buf.size()) {
    ssize_t n = ::write(fd, w.buf.data() + off, w.buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return error_from_errno(err, "cannot write state file", file,
                              err == ENOSPC || err == EDQUOT
                                  ? "the disk is full: free space there or choose another state file path"
                                  : "the previous state is kept");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return error_from_errno(err, "cannot write state file", file,
                            err == ENOSPC || err == EDQUOT ? "the disk is full: free space there or choose another state file path"
                                                           : "the previous state is kept");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return error_from_errno(err, "cannot replace state file", file, "the previous state is kept");
  }
  // The rename itself is durable only once the directory is synced.
  if (int dfd = ::open(dir_of(file).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<StateTarget> check_state_target(const std::string& file) {
  if (file.empty()) return Error{ErrorCode::invalid_argument, 0, file, "the state file path is empty"};
  struct stat st {};
  if (::lstat(file.c_str(), &st) != 0) {
    int err = errno;
    if (err != ENOENT) return error_from_errno(err, "cannot use state file", file, "choose another path");
    std::string dir = dir_of(file);
    struct stat dst {};
    if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode)) {
      return Error{ErrorCode::not_found, ENOENT, file,
                   "cannot use state file " + file + ": its directory " + dir +
                       " does not exist (create it, or choose another path)"};
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return error_from_errno(errno, "cannot create state file", file,
                              "its directory is not writable; choose another path");
    }
    return StateTarget::missing;
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{ErrorCode::invalid_argument, 0, file,
                 "will not use " + file + " as a state file: it is " + kind_of(st.st_mode) +
                     ", and lookout writes only regular files (choose another path)"};
  }
  // rename() needs the directory writable even to replace an existing file.
  if (::access(dir_of(file).c_str(), W_OK | X_OK) != 0) {
    return error_from_errno(errno, "cannot replace state file", file,
                            "its directory is not writable; choose another path");
  }
  std::string head;
  if (int err = read_prefix(file, std::strlen(kMagic), head); err != 0) {
    return error_from_errno(err, "cannot read state file", file, "choose another path");
  }
  if (head.empty()) return StateTarget::empty;
  if (head == kMagic) return StateTarget::state;
  return StateTarget::foreign;
}

Result<void> load_state(TreeModel& out, const std::string& file,
                        const std::vector<std::string>& expected_roots) {
  // Plain reads, not an ifstream: reading a directory made it throw (SIGABRT).
  std::string buf;
  if (int err = read_prefix(file, SIZE_MAX, buf); err != 0) {
    return error_from_errno(err, "no usable state in", file);
  }
  auto corrupt = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, file, "state file " + file + " is unusable: " + why};
  };
  if (buf.compare(0, std::strlen(kMagic), kMagic) != 0) return corrupt("not a lookout state file");
  Reader r{buf, std::strlen(kMagic)};
  auto version = r.get<std::uint32_t>();
  if (version != kVersion && version != 1) return corrupt("written by another version");
  auto nroots = r.get<std::uint32_t>();
  if (!r.ok || nroots != expected_roots.size()) return corrupt("it describes other watched paths");
  for (std::uint32_t i = 0; i < nroots; ++i) {
    auto count = r.get<std::uint64_t>();
    if (!r.ok || count == 0 || count > buf.size()) return corrupt("truncated");
    std::vector<NodeId> ids;
    ids.reserve(count);
    for (std::uint64_t k = 0; k < count; ++k) {
      auto parent_index = r.get<std::uint32_t>();
      std::string name = r.str();
      bool known = false;
      sys::FileStat st = get_stat(r, version, known);
      if (!r.ok) return corrupt("truncated");
      if (k == 0) {
        if (name != expected_roots[i]) return corrupt("it describes " + name + ", not " + expected_roots[i]);
        ids.push_back(out.add_root(name, st));
      } else {
        if (parent_index >= ids.size()) return corrupt("bad parent index");
        ids.push_back(out.add(ids[parent_index], name, st, known));
      }
    }
  }
  if (r.get<std::uint32_t>() != 0x4C4B4F54 || !r.ok) return corrupt("truncated");
  return {};
}

}  // namespace lookout::core
