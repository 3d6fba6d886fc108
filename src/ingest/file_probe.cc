#include "ingest/file_probe.h"

#include "sys/entry_stamps.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace lookout::ingest {

using sys::stamps_of;

namespace {

bool at_or_below(const std::string& path, const std::string& top) {
  return path == top || (path.size() > top.size() && path.compare(0, top.size(), top) == 0 && path[top.size()] == '/');
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link (not followed)";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  return "not a regular file";
}

std::string hex16(std::uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

std::string hash_hex(std::string_view bytes) { return hex16(XXH3_64bits(bytes.data(), bytes.size())); }

Snapshot snapshot(const std::string& path, bool keep_content, std::uint64_t max_content, bool keep_fd) {
  Snapshot s;
  struct stat before;
  if (::lstat(path.c_str(), &before) != 0) {
    s.sys_errno = errno;
    s.kind = errno == ENOENT || errno == ENOTDIR ? Snapshot::Kind::gone : Snapshot::Kind::unreadable;
    s.what = std::strerror(errno);
    return s;
  }
  if (!S_ISREG(before.st_mode)) {
    s.kind = Snapshot::Kind::not_regular;
    s.what = kind_of(before.st_mode);
    return s;
  }
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    s.sys_errno = errno;
    s.kind = errno == ENOENT ? Snapshot::Kind::gone : errno == ELOOP ? Snapshot::Kind::not_regular : Snapshot::Kind::unreadable;
    s.what = errno == ELOOP ? kind_of(S_IFLNK) : std::strerror(errno);
    return s;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_ino != before.st_ino) {
    s.kind = Snapshot::Kind::changed;  // replaced between the lstat and the open
    return s;
  }
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  s.too_big = keep_content && static_cast<std::uint64_t>(st.st_size) > max_content;
  const bool keep = keep_content && !s.too_big;
  if (keep) s.content.reserve(static_cast<std::size_t>(st.st_size));
  std::vector<char> buf(1 << 16);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s.sys_errno = errno;
      s.kind = Snapshot::Kind::unreadable;
      s.what = std::strerror(errno);
      return s;
    }
    if (n == 0) break;
    XXH3_64bits_update(state.get(), buf.data(), static_cast<std::size_t>(n));
    if (keep && total + static_cast<std::uint64_t>(n) <= max_content) s.content.append(buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  struct stat after;
  if (::fstat(fd.get(), &after) != 0 || after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
      after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || total != static_cast<std::uint64_t>(st.st_size)) {
    s.kind = Snapshot::Kind::changed;
    return s;
  }
  EntryStat e = stamps_of(st);
  s.version = store::Version{e.dev, e.ino, e.size, e.mtime_ns};
  s.hash = hex16(XXH3_64bits_digest(state.get()));
  s.kind = Snapshot::Kind::ok;
  if (keep_fd) {
    ::lseek(fd.get(), 0, SEEK_SET);
    // The handler's stdin blocks like a regular file's.
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    s.fd = std::move(fd);
  }
  return s;
}

NameRules::NameRules(std::string dir, std::vector<std::string> match, bool default_ignores,
                     std::vector<std::string> excluded)
    : dir_(std::move(dir)), match_(std::move(match)), default_ignores_(default_ignores), excluded_(std::move(excluded)) {}

std::string NameRules::relative(const std::string& path) const {
  if (path.size() > dir_.size() && path.compare(0, dir_.size(), dir_) == 0 && path[dir_.size()] == '/') {
    return path.substr(dir_.size() + 1);
  }
  if (dir_ == "/" && !path.empty() && path[0] == '/') return path.substr(1);
  return path;
}

bool NameRules::excluded(const std::string& path) const {
  for (const std::string& x : excluded_) {
    if (at_or_below(path, x)) return true;
  }
  return false;
}

bool NameRules::wanted(const std::string& path) const {
  if (excluded(path)) return false;
  const std::string rel = relative(path);
  const auto slash = rel.rfind('/');
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (default_ignores_) {
    if (name.empty() || rel[0] == '.' || rel.find("/.") != std::string::npos) return false;
    for (std::string_view suffix : {".tmp", ".part", ".partial", ".swp"}) {
      if (ends_with(name, suffix)) return false;
    }
  }
  if (match_.empty()) return true;
  for (const std::string& g : match_) {
    if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
    if (::fnmatch(g.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

void list_files(const std::string& top, bool recursive, const NameRules& rules,
                const std::function<void(const std::string& path)>& each) {
  std::vector<std::string> dirs{top};
  while (!dirs.empty()) {
    std::string d = std::move(dirs.back());
    dirs.pop_back();
    std::unique_ptr<DIR, int (*)(DIR*)> h(::opendir(d.c_str()), &::closedir);
    if (!h) continue;
    while (dirent* e = ::readdir(h.get())) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string path = (d == "/" ? d : d + "/") + std::string(name);
      if (rules.excluded(path)) continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st;
        is_dir = ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      if (is_dir) {
        if (recursive) dirs.push_back(std::move(path));
        continue;
      }
      each(path);
    }
  }
}

Result<std::string> move_below(const std::string& dir, const std::string& path, const std::string& dest) {
  namespace fs = std::filesystem;
  NameRules rules(dir, {}, false, {});
  const std::string target = dest + "/" + rules.relative(path);
  std::error_code ec;
  fs::create_directories(fs::path(target).parent_path(), ec);
  if (ec) return error_from_errno(ec.value(), "cannot make", fs::path(target).parent_path().string());
  for (int n = 0; n < 10000; ++n) {
    std::string to = n == 0 ? target : target + "." + std::to_string(n);
    // RENAME_NOREPLACE: a file already there (an earlier one of the same name) is kept.
    if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return to;
    if (errno != EEXIST) return error_from_errno(errno, "cannot move " + path + " to", to);
  }
  return Error{ErrorCode::io, EEXIST, target, "cannot move " + path + ": 10000 files named " + target + " already"};
}

}  // namespace lookout::ingest
