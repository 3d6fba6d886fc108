#include "core/fs_kind.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdlib>

namespace lookout {

namespace {

enum class Family : std::uint8_t { local, remote, fuse, overlay, pseudo };

struct MagicInfo {
  std::uint64_t magic;
  std::string_view name;
  Family family;
};

constexpr std::array kMagics = {
    MagicInfo{fs_magic::kExt4, "ext4", Family::local},
    MagicInfo{fs_magic::kXfs, "xfs", Family::local},
    MagicInfo{fs_magic::kBtrfs, "btrfs", Family::local},
    MagicInfo{fs_magic::kTmpfs, "tmpfs", Family::local},
    MagicInfo{0x858458F6, "ramfs", Family::local},
    MagicInfo{0xF2F52010, "f2fs", Family::local},
    MagicInfo{0x2FC12FC1, "zfs", Family::local},
    MagicInfo{0xCA451A4E, "bcachefs", Family::local},
    MagicInfo{0x4D44, "vfat", Family::local},
    MagicInfo{0x2011BAB0, "exfat", Family::local},
    MagicInfo{0x7366746E, "ntfs3", Family::local},
    MagicInfo{0x73717368, "squashfs", Family::local},
    MagicInfo{0xE0F5E1E2, "erofs", Family::local},
    MagicInfo{0x9660, "iso9660", Family::local},
    MagicInfo{0x3153464A, "jfs", Family::local},
    MagicInfo{0x52654973, "reiserfs", Family::local},
    MagicInfo{fs_magic::kOverlay, "overlay", Family::overlay},
    MagicInfo{fs_magic::kFuse, "fuse", Family::fuse},
    MagicInfo{fs_magic::kNfs, "nfs", Family::remote},
    MagicInfo{fs_magic::kSmb, "smb", Family::remote},
    MagicInfo{fs_magic::kCifs, "cifs", Family::remote},
    MagicInfo{fs_magic::kSmb2, "smb2", Family::remote},
    MagicInfo{fs_magic::kV9fs, "9p", Family::remote},
    MagicInfo{fs_magic::kCeph, "ceph", Family::remote},
    MagicInfo{fs_magic::kAfs, "afs", Family::remote},
    MagicInfo{fs_magic::kKafs, "afs", Family::remote},
    MagicInfo{fs_magic::kCoda, "coda", Family::remote},
    MagicInfo{fs_magic::kOcfs2, "ocfs2", Family::remote},
    MagicInfo{fs_magic::kGfs2, "gfs2", Family::remote},
    MagicInfo{0x0BD00BD0, "lustre", Family::remote},
    MagicInfo{fs_magic::kProc, "proc", Family::pseudo},
    MagicInfo{fs_magic::kSysfs, "sysfs", Family::pseudo},
    MagicInfo{0x0027E0EB, "cgroup", Family::pseudo},
    MagicInfo{0x63677270, "cgroup2", Family::pseudo},
    MagicInfo{0x64626720, "debugfs", Family::pseudo},
    MagicInfo{0x74726163, "tracefs", Family::pseudo},
    MagicInfo{0x73636673, "securityfs", Family::pseudo},
    MagicInfo{0x1CD1, "devpts", Family::pseudo},
    MagicInfo{0x19800202, "mqueue", Family::pseudo},
    MagicInfo{0xCAFE4A11, "bpf", Family::pseudo},
    MagicInfo{0x62656570, "configfs", Family::pseudo},
    MagicInfo{0x6165676C, "pstore", Family::pseudo},
    MagicInfo{0xDE5E81E4, "efivarfs", Family::pseudo},
    MagicInfo{0x6E736673, "nsfs", Family::pseudo},
    MagicInfo{0x42494E4D, "binfmt_misc", Family::pseudo},
    MagicInfo{0x65735543, "fusectl", Family::pseudo},
    MagicInfo{0x0187, "autofs", Family::pseudo},
};

// mountinfo fstypes of network filesystems, for magics lookout does not know
// (and as a second opinion when statfs disagrees with nothing to go on).
constexpr std::array<std::string_view, 14> kRemoteFstypes = {
    "nfs", "nfs4", "cifs",  "smb3", "smbfs",  "9p",     "ceph",
    "afs", "coda", "ocfs2", "gfs2", "lustre", "beegfs", "gpfs"};

// FUSE subtypes that reach another machine; the rest may be local (bindfs) but inotify
// still misses changes made behind the FUSE daemon's back.
constexpr std::array<std::string_view, 8> kRemoteFuseSubtypes = {
    "sshfs", "rclone", "s3fs", "gcsfuse", "glusterfs", "ceph-fuse", "davfs", "juicefs"};

const MagicInfo* find_magic(std::uint64_t magic) {
  for (const auto& m : kMagics) {
    if (m.magic == magic) return &m;
  }
  return nullptr;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view s) {
  for (auto v : set) {
    if (v == s) return true;
  }
  return false;
}

// "lowerdir=/l,upperdir=/u" -> "lowerdir /l, upperdir /u" (for the overlay reason).
std::string overlay_layers(std::string_view super_options) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= super_options.size()) {
    std::size_t end = super_options.find(',', pos);
    if (end == std::string_view::npos) end = super_options.size();
    std::string_view opt = super_options.substr(pos, end - pos);
    for (std::string_view key : {"lowerdir=", "upperdir="}) {
      if (opt.substr(0, key.size()) == key) {
        if (!out.empty()) out += ", ";
        out +=
            std::string(key.substr(0, key.size() - 1)) + " " + std::string(opt.substr(key.size()));
      }
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace

const char* backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::inotify:
      return "inotify";
    case BackendKind::poll:
      return "poll";
    case BackendKind::fanotify:
      return "fanotify";
  }
  return "inotify";
}

std::string_view fs_magic_name(std::uint64_t magic) {
  const MagicInfo* m = find_magic(magic);
  return m ? m->name : std::string_view{};
}

FsKind classify_fs(std::uint64_t magic, std::string_view fstype, std::string_view super_options) {
  FsKind k;
  k.magic = magic;
  const MagicInfo* info = find_magic(magic);
  Family family = info ? info->family : Family::local;
  bool known = info != nullptr;
  if (!fstype.empty()) {
    k.fs_type = std::string(fstype);
  } else if (info) {
    k.fs_type = std::string(info->name);
  } else {
    k.fs_type = "unknown";
  }
  // The fstype settles what the magic cannot: FUSE subtypes, and types lookout has no magic
  // for (or a statfs that failed, magic 0).
  std::string_view subtype;
  if (fstype == "fuse" || fstype == "fuseblk" || fstype.substr(0, 5) == "fuse." ||
      fstype == "virtiofs") {
    family = Family::fuse;
    known = true;
    if (fstype.substr(0, 5) == "fuse.") subtype = fstype.substr(5);
  } else if (contains(kRemoteFstypes, fstype)) {
    family = Family::remote;
    known = true;
  } else if (fstype == "overlay") {
    family = Family::overlay;
    known = true;
  }
  const std::string name = k.fs_type;
  switch (family) {
    case Family::local:
      k.backend = BackendKind::inotify;
      k.is_unknown = !known;
      k.reason = known ? fmt::format(
                             "local filesystem ({}): the kernel reports every change "
                             "through inotify",
                             name)
                       : fmt::format(
                             "unknown filesystem ({}, magic {:#x}): assumed local, so "
                             "inotify; if changes go unreported, it needs polling",
                             name, magic);
      break;
    case Family::remote:
      k.is_remote = true;
      k.backend = BackendKind::poll;
      k.reason = fmt::format(
          "network filesystem ({}): inotify sees only changes made on this "
          "machine; writes by the server or other clients are found only by "
          "polling",
          name);
      break;
    case Family::fuse: {
      k.is_fuse = true;
      k.is_remote = fstype == "virtiofs" || contains(kRemoteFuseSubtypes, subtype);
      k.backend = BackendKind::poll;
      const char* behind = fstype == "virtiofs" ? "by the host"
                           : k.is_remote        ? "on the remote side"
                                                : "in the backing store";
      k.reason = fmt::format(
          "FUSE filesystem ({}): inotify sees only changes made through this mount, never "
          "those made {} (measured with bindfs: 0 events); polling lags by the FUSE attribute "
          "cache (attr_timeout, ~1 s by default)",
          name, behind);
      break;
    }
    case Family::overlay: {
      k.is_overlay = true;
      k.backend = BackendKind::inotify;
      std::string layers = overlay_layers(super_options);
      k.reason = fmt::format(
          "overlayfs: inotify sees every write made through this mount; writes made directly "
          "in its lower or upper layers{} raise no event here and are only found by polling",
          layers.empty() ? "" : " (" + layers + ")");
      break;
    }
    case Family::pseudo:
      k.is_pseudo = true;
      k.backend = BackendKind::poll;
      k.reason = fmt::format(
          "pseudo filesystem ({}): its content is generated on read and most "
          "changes raise no event; poll it or, better, exclude it",
          name);
      break;
  }
  return k;
}

Result<FsKind> classify_path(sys::Fs& fs, const std::string& path,
                             const std::vector<sys::MountEntry>& mounts) {
  std::uint64_t magic = 0;
  if (int err = fs.fs_magic(path.c_str(), magic); err != 0) return error_from_errno(err, "statfs", path);
  std::string canonical;
  if (fs.real_path(path.c_str(), canonical) != 0) canonical = path;
  const sys::MountEntry* m = sys::find_mount(mounts, canonical);
  FsKind k = m ? classify_fs(magic, m->fstype, m->super_options) : classify_fs(magic);
  if (m) {
    k.mount_point = m->mount_point;
    k.source = m->source;
  }
  return k;
}

Result<FsKind> classify_path(const std::string& path, sys::Fs& fs) {
  auto mounts = fs.mounts();
  static const std::vector<sys::MountEntry> kNone;
  return classify_path(fs, path, mounts ? *mounts : kNone);
}

BackendRecommendation choose_backend(const FsKind& fs, bool cap_sys_admin,
                                     const sys::FanotifyProbe& probe, std::uint64_t dir_count) {
  BackendRecommendation c;
  if (fs.backend == BackendKind::poll) {
    c.backend = BackendKind::poll;
    c.reason = fs.reason;
    return c;
  }
  std::string why_not;
  if (!cap_sys_admin) {
    why_not = "no CAP_SYS_ADMIN";
  } else if (!probe.available) {
    why_not = probe.reason.empty() ? "the probe failed" : probe.reason;
  } else if (dir_count < kFanotifyMinDirs) {
    why_not = fmt::format(
        "{} director{}, below the {} where one filesystem mark beats one watch per directory",
        dir_count, dir_count == 1 ? "y" : "ies", kFanotifyMinDirs);
  }
  if (why_not.empty()) {
    c.backend = BackendKind::fanotify;
    c.reason = fmt::format(
        "{} directories and a fanotify filesystem mark works here: one mark replaces {} inotify "
        "watches; it reports the whole filesystem{}, so events outside the tree are filtered out",
        dir_count, dir_count, fs.mount_point.empty() ? "" : " mounted at " + fs.mount_point);
    return c;
  }
  c.backend = fs.backend;
  c.reason = fs.reason + "; fanotify not used: " + why_not;
  return c;
}

Result<BackendRecommendation> recommend_backend(const std::string& path, std::uint64_t dir_count) {
  auto fs = classify_path(path);
  if (!fs) return fs.error();
  sys::FanotifyProbe probe;
  bool cap = sys::has_cap_sys_admin();
  if (cap && fs->backend != BackendKind::poll && dir_count >= kFanotifyMinDirs) {
    probe = sys::probe_fanotify(path);
  }
  return choose_backend(*fs, cap, probe, dir_count);
}

}  // namespace lookout
