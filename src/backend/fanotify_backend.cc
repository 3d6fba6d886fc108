#include "backend/fanotify_backend.h"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "sys/fanotify_probe.h"

namespace lookout::backend {

namespace {
constexpr std::size_t kFsidBytes = sizeof(__kernel_fsid_t);

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

// Reads one fid info record (fsid + struct file_handle [+ name]) into a key and a name.
void parse_fid(const fanotify_event_info_fid* info, bool has_name, std::string& key,
               std::string& name) {
  const char* fsid = reinterpret_cast<const char*>(&info->fsid);
  file_handle fh;
  std::memcpy(&fh, info->handle, sizeof fh);
  const unsigned char* bytes = info->handle + sizeof fh;
  key = make_key(fsid, fh.handle_type, bytes, fh.handle_bytes);
  name = has_name ? std::string(reinterpret_cast<const char*>(bytes + fh.handle_bytes)) : std::string{};
}
}  // namespace

Result<FanotifyBackend> FanotifyBackend::open(std::uint64_t mask) {
  // The target's handle too: a directory created and renamed before its record is read can
  // then be keyed from the record itself, where opening it by path would find another
  // directory or none (and events inside it would go by the wrong path or be lost). It also
  // keeps the kernel from merging records about different objects under one name.
  constexpr unsigned kFlags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
  int fd = ::fanotify_init(kFlags | FAN_REPORT_DFID_NAME_TARGET, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  if (fd < 0 && errno == EINVAL) {
    fd = ::fanotify_init(kFlags | FAN_REPORT_DFID_NAME, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
  }
  if (fd < 0) {
    int err = errno;
    return Error{err == EPERM ? ErrorCode::permission_denied : ErrorCode::unsupported, err, "",
                 "cannot use fanotify: " + sys::fanotify_failure_reason("fanotify_init", err)};
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
                       sys::fanotify_failure_reason("fanotify_mark", err) +
                       "; use --backend auto or inotify"};
    }
    mounts_.emplace(fsid, std::move(dir));
  }
  fsid_of_dev_[st.st_dev] = fsid;
  return {};
}

std::string FanotifyBackend::key_of(int dirfd, std::uint64_t dev) { return key_of(dirfd, "", dev); }

std::string FanotifyBackend::key_of(int dirfd, const std::string& name, std::uint64_t dev) {
  auto it = fsid_of_dev_.find(dev);
  if (it == fsid_of_dev_.end()) return {};
  HandleBuffer h;
  file_handle* fh = h.get();
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (::name_to_handle_at(dirfd, name.c_str(), fh, &mount_id, name.empty() ? AT_EMPTY_PATH : 0) != 0) {
    return {};
  }
  return make_key(it->second.data(), fh->handle_type, fh->f_handle, fh->handle_bytes);
}

std::string FanotifyBackend::resolve(const std::string& key) const {
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
  sys::UniqueFd fd(::open_by_handle_at(mount->second.get(), fh, O_PATH | O_CLOEXEC));
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
    auto* meta = reinterpret_cast<const fanotify_event_metadata*>(buf_.data());
    for (ssize_t left = n; FAN_EVENT_OK(meta, left); meta = FAN_EVENT_NEXT(meta, left)) {
      if (meta->vers != FANOTIFY_METADATA_VERSION) {
        return Error{ErrorCode::unsupported, 0, "", "fanotify: unknown event metadata version"};
      }
      if (meta->fd >= 0) ::close(meta->fd);  // FID groups report FAN_NOFD; be safe
      FanEvent ev;
      ev.mask = meta->mask;
      ev.pid = meta->pid;
      const char* p = reinterpret_cast<const char*>(meta) + meta->metadata_len;
      const char* end = reinterpret_cast<const char*>(meta) + meta->event_len;
      while (p + sizeof(fanotify_event_info_header) <= end) {
        auto* hdr = reinterpret_cast<const fanotify_event_info_header*>(p);
        if (hdr->len == 0) break;
        auto* info = reinterpret_cast<const fanotify_event_info_fid*>(p);
        switch (hdr->info_type) {
          case FAN_EVENT_INFO_TYPE_DFID_NAME:
          case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
            parse_fid(info, true, ev.dir_key, ev.name);
            break;
          case FAN_EVENT_INFO_TYPE_DFID:
            parse_fid(info, false, ev.dir_key, ev.name);
            break;
          case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
            parse_fid(info, true, ev.to_dir_key, ev.to_name);
            break;
          case FAN_EVENT_INFO_TYPE_FID: {
            std::string unused;
            parse_fid(info, false, ev.target_key, unused);
            break;
          }
          default:
            break;  // pidfd, error records: not asked for
        }
        p += hdr->len;
      }
      out.push_back(std::move(ev));
      ++count;
    }
  }
  return count;
}

}  // namespace lookout::backend
