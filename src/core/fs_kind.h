// FsKind: what kind of filesystem holds a path and which backend can watch it reliably.
// The engine's auto mode asks recommend_backend(); `lookout doctor` shows the same answer
// with its reason. classify_fs() and choose_backend() are pure (unit-tested without a
// kernel); the rest make a few syscalls. Everything here is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lookout/result.h"
#include "sys/fanotify_probe.h"
#include "sys/fs.h"
#include "sys/mountinfo.h"

namespace lookout {

enum class BackendKind : std::uint8_t { inotify, poll, fanotify };
const char* backend_kind_name(BackendKind kind);  // "inotify", "poll", "fanotify"

// A fanotify filesystem mark replaces one inotify watch per directory, so it pays off on
// large trees: setup took 17-78 µs against 0.2-1.5 s for 20,001 inotify watches
// (docs/kernel-facts.md#fanotify-setup-cost). Below this many directories inotify is cheap enough
// and needs no privilege. PROVISIONAL: a guess until the bench measures where the two setups' costs
// cross.
inline constexpr std::uint64_t kFanotifyMinDirs = 2000;

// statfs(2) f_type values (linux/magic.h; gfs2_ondisk.h for GFS2).
namespace fs_magic {
inline constexpr std::uint64_t kExt4 = 0xEF53;  // also ext2/ext3
inline constexpr std::uint64_t kXfs = 0x58465342;
inline constexpr std::uint64_t kBtrfs = 0x9123683E;
inline constexpr std::uint64_t kTmpfs = 0x01021994;
inline constexpr std::uint64_t kOverlay = 0x794C7630;
inline constexpr std::uint64_t kFuse = 0x65735546;
inline constexpr std::uint64_t kNfs = 0x6969;
inline constexpr std::uint64_t kSmb = 0x517B;
inline constexpr std::uint64_t kCifs = 0xFF534D42;
inline constexpr std::uint64_t kSmb2 = 0xFE534D42;
inline constexpr std::uint64_t kV9fs = 0x01021997;
inline constexpr std::uint64_t kCeph = 0x00C36400;
inline constexpr std::uint64_t kAfs = 0x5346414F;
inline constexpr std::uint64_t kKafs = 0x6B414653;
inline constexpr std::uint64_t kCoda = 0x73757245;
inline constexpr std::uint64_t kOcfs2 = 0x7461636F;
inline constexpr std::uint64_t kGfs2 = 0x01161970;
inline constexpr std::uint64_t kProc = 0x9FA0;
inline constexpr std::uint64_t kSysfs = 0x62656572;
}  // namespace fs_magic

struct FsKind {
  std::string fs_type;      // mountinfo fstype when known ("ext4", "fuse.sshfs", "virtiofs"),
                            // else the name of the magic number, else "unknown"
  std::string mount_point;  // empty when the mount could not be found
  std::string source;       // mountinfo source ("/dev/vda", "server:/export")
  std::uint64_t magic = 0;  // statfs f_type
  bool is_remote = false;   // others can change it without this kernel knowing
  bool is_fuse = false;     // FUSE, including virtiofs and fuse.* subtypes
  bool is_overlay = false;
  bool is_pseudo = false;  // proc, sysfs, cgroup, ...: generated content, no events
  bool is_unknown = false;  // a filesystem lookout does not know, assumed local (inotify)
  BackendKind backend = BackendKind::inotify;
  std::string reason;  // why `backend`, in one or two sentences, with the known caveats;
                       // names no CLI flag (the flags above let a front end word advice)
};

// Pure: the classification for a statfs magic plus (optionally) the mount's mountinfo
// fstype and super options. Sets everything but mount_point and source. The fstype decides
// FUSE subtypes (virtiofs and sshfs share the FUSE magic) and unknown magics; the super
// options name an overlay's layers in the reason. The backend is inotify or poll, never
// fanotify (that depends on privilege and tree size: see choose_backend).
FsKind classify_fs(std::uint64_t magic, std::string_view fstype = {},
                   std::string_view super_options = {});

// The name for a statfs magic ("ext4", "nfs", ...), or empty when lookout does not know it.
std::string_view fs_magic_name(std::uint64_t magic);

// statfs(path) plus the mount holding realpath(path) in `mounts`, both asked of `fs`.
Result<FsKind> classify_path(sys::Fs& fs, const std::string& path,
                             const std::vector<sys::MountEntry>& mounts);
// Same, reading the mount table from `fs` (default: the kernel's).
Result<FsKind> classify_path(const std::string& path, sys::Fs& fs = sys::real_fs());

struct BackendRecommendation {
  BackendKind backend = BackendKind::inotify;
  std::string reason;
};

// Pure: auto mode. poll when the filesystem needs it; fanotify when this process has
// CAP_SYS_ADMIN, the probe succeeded and the tree has at least kFanotifyMinDirs
// directories; inotify otherwise. The reason says why fanotify was not taken.
BackendRecommendation choose_backend(const FsKind& fs, bool cap_sys_admin,
                                     const sys::FanotifyProbe& probe, std::uint64_t dir_count);

// classify_path + has_cap_sys_admin + probe_fanotify + choose_backend, for the engine.
// `dir_count` is the number of directories the watch will cover.
Result<BackendRecommendation> recommend_backend(const std::string& path, std::uint64_t dir_count);

}  // namespace lookout
