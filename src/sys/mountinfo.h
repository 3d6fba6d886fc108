// Mounts as the kernel lists them in /proc/self/mountinfo (proc(5)), and the lookups the
// engine needs: the mount that holds a path and the mounts nested below it.
// Parsing and lookups are pure functions over a vector of entries; read_mountinfo() does the
// one read. Everything here is thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lookout/result.h"

namespace lookout::sys {

// One line of mountinfo. Path fields are unescaped (the kernel writes space, tab, newline
// and backslash as \040 \011 \012 \134).
struct MountEntry {
  int mount_id = 0;
  int parent_id = 0;
  unsigned major = 0;
  unsigned minor = 0;
  std::string root;                          // the directory of the fs mounted here
  std::string mount_point;                   // relative to this process's root
  std::string options;                       // per-mount: rw,nosuid,relatime,...
  std::vector<std::string> optional_fields;  // shared:N master:N propagate_from:N unbindable
  std::string fstype;                        // "ext4", "fuse.sshfs", "virtiofs", "nfs4", ...
  std::string source;                        // "/dev/vda", "server:/export", "none", ...
  std::string super_options;                 // per-superblock: lowerdir=...,upperdir=...
};

// Undoes the kernel's octal escapes (\NNN); any other backslash is kept as is.
std::string unescape_mountinfo(std::string_view field);

// Parses one line (without its newline). Fails with invalid_argument on a malformed line.
Result<MountEntry> parse_mountinfo_line(std::string_view line);

// Parses a whole file, skipping blank and malformed lines.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// Reads and parses `file` (default /proc/self/mountinfo).
Result<std::vector<MountEntry>> read_mountinfo(const std::string& file = "/proc/self/mountinfo");

// True when `path` equals `dir` or lies below it, comparing whole components
// ("/a/bc" is not under "/a/b"). Both must be absolute and without a trailing slash
// (except "/" itself).
bool path_is_under(std::string_view path, std::string_view dir);

// The mount holding `canonical_path` (absolute, symlinks resolved): the one with the longest
// mount point that is a prefix of it. When several mounts are stacked on one mount point, the
// top one (the one no other mount on that point is a child of) wins. nullptr if none matches.
const MountEntry* find_mount(const std::vector<MountEntry>& mounts,
                             std::string_view canonical_path);

// Mounts strictly below `canonical_path` (not the one at it), top of each stack only, in
// component-wise mount-point order, so each mount's submounts follow it directly.
std::vector<const MountEntry*> find_submounts(const std::vector<MountEntry>& mounts,
                                              std::string_view canonical_path);

}  // namespace lookout::sys
