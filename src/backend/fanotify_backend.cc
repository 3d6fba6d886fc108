#include "backend/fanotify_backend.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "sys/close_in_background.h"
#include "sys/fanotify_probe.h"

namespace lookout::backend {

namespace {
constexpr std::size_t kFsidBytes = sizeof(__kernel_fsid_t);
static_assert(kKeyPrefixBytes == kFsidBytes + sizeof(int), "a key begins with fsid, handle type");

std::string fsid_bytes(const struct statfs& sf) {
  return std::string(reinterpret_cast<const char*>(&sf.f_fsid), kFsidBytes);
}

// struct file_handle ends in a flexible array: room for the largest handle, aligned.
struct HandleBuffer {
  alignas(file_handle) unsigned char raw[sizeof(file_handle) + MAX_HANDLE_SZ] = {};
  file_handle* get() { return reinterpret_cast<file_handle*>(raw); }
};

// Key layout: fsid, then handle_type, then the handle bytes (see FanEvent).
std::string make_key(const char* fsid, int handle_type, const unsigned char* handle,
                     std::size_t bytes) {
  std::string key(fsid, kFsidBytes);
  key.append(reinterpret_cast<const char*>(&handle_type), sizeof handle_type);
  key.append(reinterpret_cast<const char*>(handle), bytes);
  return key;
}

// Reads one fid info record (header, fsid, struct file_handle [, name]) at `p` into a key and
// a name. Records are not aligned (names have any length): every field is copied, not cast.
void parse_fid(const char* p, const char* end, bool has_name, std::string& key, std::string& name) {
  const char* fsid = p + sizeof(fanotify_event_info_header);
  const char* handle = fsid + kFsidBytes;
  file_handle fh;
  if (handle + sizeof fh > end) return;
  std::memcpy(&fh, handle, sizeof fh);
  const char* bytes = handle + sizeof fh;
  if (bytes + fh.handle_bytes > end) return;
  key = make_key(fsid, fh.handle_type, reinterpret_cast<const unsigned char*>(bytes), fh.handle_bytes);
  name.clear();
  if (has_name) {
    const char* n = bytes + fh.handle_bytes;
    name.assign(n, strnlen(n, static_cast<std::size_t>(end - n)));
  }
}
}  // namespace

Result<FanotifyBackend> FanotifyBackend::open(std::uint64_t mask) {
  // The target's handle too: a directory created and renamed before its record is read can
  // then be keyed from the record itself, where opening it by path would find another
  // directory or none (and events inside it would go by the wrong path or be lost). It also
  // keeps the kernel from merging records about different objects under one name.
  constexpr unsigned kFlags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
  auto init = [] {
    int fd = ::fanotify_init(kFlags | FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
    if (fd < 0 && errno == EINVAL) {
      fd = ::fanotify_init(kFlags | FAN_REPORT_DFID_NAME, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
    }
    return fd;
  };
  int fd = init();
  if (fd < 0 && errno == EMFILE) {
    // As InotifyBackend::open: this process's own closes in flight give their fds back first.
    sys::wait_for_background_closes();
    fd = init();
  }
  if (fd < 0) {
    int err = errno;
    return Error{err == EPERM ? ErrorCode::permission_denied : ErrorCode::unsupported, err, "",
                 "cannot use fanotify: " + sys::fanotify_failure_reason("fanotify_init", err),
                 Cause::fanotify_unusable};
  }
  return FanotifyBackend(sys::UniqueFd(fd), mask);
}

Result<void> FanotifyBackend::mark(const std::string& path) {
  // Not O_PATH: fanotify_mark and open_by_handle_at take only fds opened for I/O.
  sys::UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat st {};
  struct statfs sf {};
  if (!dir.valid() || ::fstat(dir.get(), &st) != 0 || ::fstatfs(dir.get(), &sf) != 0) {
    return error_from_errno(errno, "cannot mark for fanotify", path);
  }
  std::string fsid = fsid_bytes(sf);
  if (!mounts_.count(fsid)) {
    if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask_, dir.get(), nullptr) != 0) {
      int err = errno;
      return Error{err == EPERM ? ErrorCode::permission_denied : ErrorCode::unsupported, err, path,
                   "cannot watch " + path + " with fanotify: " +
                       sys::fanotify_failure_reason("fanotify_mark", err),
                   Cause::fanotify_unusable};
    }
    mounts_.emplace(fsid, path);
  }
  fsid_of_dev_[st.st_dev] = fsid;
  return {};
}

std::string FanotifyBackend::key_of(int dirfd, std::uint64_t dev) { return key_of(dirfd, "", dev); }

std::string FanotifyBackend::key_of(int dirfd, const std::string& name, std::uint64_t dev) {
  auto it = fsid_of_dev_.find(dev);
  if (it == fsid_of_dev_.end()) return {};
  return key_at(dirfd, name, it->second);
}

std::string FanotifyBackend::key_at(int dirfd, const std::string& name, const std::string& fsid) const {
  HandleBuffer h;
  file_handle* fh = h.get();
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (::name_to_handle_at(dirfd, name.c_str(), fh, &mount_id, name.empty() ? AT_EMPTY_PATH : 0) != 0) {
    return {};
  }
  return make_key(fsid.data(), fh->handle_type, fh->f_handle, fh->handle_bytes);
}

sys::UniqueFd FanotifyBackend::open_key(const std::string& key) const {
  if (key.size() < kFsidBytes + sizeof(int)) return {};
  auto mount = mounts_.find(key.substr(0, kFsidBytes));
  if (mount == mounts_.end()) return {};
  std::size_t bytes = key.size() - kFsidBytes - sizeof(int);
  if (bytes > MAX_HANDLE_SZ) return {};
  HandleBuffer h;
  file_handle* fh = h.get();
  fh->handle_bytes = static_cast<unsigned>(bytes);
  std::memcpy(&fh->handle_type, key.data() + kFsidBytes, sizeof(int));
  std::memcpy(fh->f_handle, key.data() + kFsidBytes + sizeof(int), bytes);
  sys::UniqueFd mount_fd(::open(mount->second.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!mount_fd.valid()) return {};
  return sys::UniqueFd(::open_by_handle_at(mount_fd.get(), fh, O_PATH | O_CLOEXEC));
}

std::string FanotifyBackend::key_in(const std::string& dir_key, const std::string& name) const {
  sys::UniqueFd dir = open_key(dir_key);
  if (!dir.valid()) return {};
  return key_at(dir.get(), name, dir_key.substr(0, kFsidBytes));
}

std::string FanotifyBackend::resolve(const std::string& key) const {
  sys::UniqueFd fd = open_key(key);
  if (!fd.valid()) return {};
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd.get());
  char buf[PATH_MAX];
  ssize_t n = ::readlink(link, buf, sizeof buf);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return {};
  std::string path(buf, static_cast<std::size_t>(n));
  static constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
    return {};
  }
  return path;
}

Result<std::size_t> FanotifyBackend::drain(std::vector<FanEvent>& out, std::size_t max_events) {
  std::size_t count = 0;
  while (count < max_events) {
    ssize_t n = ::read(fd_.get(), buf_.data(), buf_.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return error_from_errno(errno, "reading fanotify events", "");
    }
    if (n == 0) break;
    // Records are packed back to back without alignment: copy each header out.
    for (std::size_t off = 0; off + sizeof(fanotify_event_metadata) <= static_cast<std::size_t>(n);) {
      fanotify_event_metadata meta;
      std::memcpy(&meta, buf_.data() + off, sizeof meta);
      if (meta.event_len < sizeof meta || off + meta.event_len > static_cast<std::size_t>(n)) break;
      if (meta.vers != FANOTIFY_METADATA_VERSION) {
        return Error{ErrorCode::unsupported, 0, "", "fanotify: unknown event metadata version"};
      }
      if (meta.fd >= 0) ::close(meta.fd);  // FID groups report FAN_NOFD; be safe
      FanEvent ev;
      ev.mask = meta.mask;
      ev.pid = meta.pid;
      const char* p = buf_.data() + off + meta.metadata_len;
      const char* end = buf_.data() + off + meta.event_len;
      while (p + sizeof(fanotify_event_info_header) <= end) {
        fanotify_event_info_header hdr;
        std::memcpy(&hdr, p, sizeof hdr);
        if (hdr.len == 0 || p + hdr.len > end) break;
        const char* rec_end = p + hdr.len;
        switch (hdr.info_type) {
          case FAN_EVENT_INFO_TYPE_DFID_NAME:
          case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
            parse_fid(p, rec_end, true, ev.dir_key, ev.name);
            break;
          case FAN_EVENT_INFO_TYPE_DFID:
            parse_fid(p, rec_end, false, ev.dir_key, ev.name);
            break;
          case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
            parse_fid(p, rec_end, true, ev.to_dir_key, ev.to_name);
            break;
          case FAN_EVENT_INFO_TYPE_FID: {
            std::string unused;
            parse_fid(p, rec_end, false, ev.target_key, unused);
            break;
          }
          default:
            break;  // pidfd, error records: not asked for
        }
        p = rec_end;
      }
      out.push_back(std::move(ev));
      ++count;
      off += meta.event_len;
    }
    // A short read means the queue is empty now: go back to the loop rather than read one
    // record per syscall while something else on the filesystem keeps writing.
    if (static_cast<std::size_t>(n) < buf_.size() / 2) break;
  }
  return count;
}

}  // namespace lookout::backend
