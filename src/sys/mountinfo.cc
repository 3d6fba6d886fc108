#include "sys/mountinfo.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace lookout::sys {

namespace {

bool is_octal(char c) { return c >= '0' && c <= '7'; }

// Splits on single spaces; mountinfo never has empty fields because spaces inside
// paths are escaped.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    std::size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) out.push_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

Error malformed(std::string_view line, std::string_view why) {
  Error e;
  e.code = ErrorCode::invalid_argument;
  e.path = "/proc/self/mountinfo";
  e.message = "malformed mountinfo line (" + std::string(why) + "): " + std::string(line);
  return e;
}

// Of the mounts that are children of `parent` and sit on exactly `point`, the last listed
// one (mounted later, so on top); nullptr if none.
const MountEntry* child_on(const std::vector<MountEntry>& mounts, const MountEntry& parent,
                           std::string_view point) {
  const MountEntry* found = nullptr;
  for (const auto& m : mounts) {
    if (m.parent_id == parent.mount_id && &m != &parent && m.mount_point == point) found = &m;
  }
  return found;
}

// Follows a stack of mounts on one point up to the one that is visible.
const MountEntry* top_of_stack(const std::vector<MountEntry>& mounts, const MountEntry* m) {
  for (int guard = 0; guard < 64; ++guard) {
    const MountEntry* up = child_on(mounts, *m, m->mount_point);
    if (!up) break;
    m = up;
  }
  return m;
}

}  // namespace

std::string unescape_mountinfo(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
        is_octal(field[i + 2]) && is_octal(field[i + 3])) {
      int v = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      out.push_back(static_cast<char>(v & 0xFF));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

Result<MountEntry> parse_mountinfo_line(std::string_view line) {
  auto f = split_fields(line);
  // 6 fixed fields, zero or more optional ones, "-", then 3 more.
  if (f.size() < 10) return malformed(line, "too few fields");
  MountEntry m;
  if (!parse_number(f[0], m.mount_id) || !parse_number(f[1], m.parent_id)) {
    return malformed(line, "mount id");
  }
  auto colon = f[2].find(':');
  if (colon == std::string_view::npos || !parse_number(f[2].substr(0, colon), m.major) ||
      !parse_number(f[2].substr(colon + 1), m.minor)) {
    return malformed(line, "major:minor");
  }
  m.root = unescape_mountinfo(f[3]);
  m.mount_point = unescape_mountinfo(f[4]);
  m.options = std::string(f[5]);
  std::size_t i = 6;
  for (; i < f.size() && f[i] != "-"; ++i) m.optional_fields.emplace_back(f[i]);
  if (i == f.size()) return malformed(line, "no \"-\" separator");
  // The source may be missing on some filesystems in old kernels; the super options may be
  // missing never, but tolerate both.
  if (i + 1 >= f.size()) return malformed(line, "no fstype");
  m.fstype = unescape_mountinfo(f[i + 1]);
  if (i + 2 < f.size()) m.source = unescape_mountinfo(f[i + 2]);
  if (i + 3 < f.size()) m.super_options = unescape_mountinfo(f[i + 3]);
  return m;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    if (auto m = parse_mountinfo_line(line)) out.push_back(std::move(*m));
  }
  return out;
}

Result<std::vector<MountEntry>> read_mountinfo(const std::string& file) {
  std::ifstream in(file);
  if (!in) return error_from_errno(errno ? errno : ENOENT, "open", file);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_mountinfo(text.str());
}

bool path_is_under(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

const MountEntry* find_mount(const std::vector<MountEntry>& mounts,
                             std::string_view canonical_path) {
  // Walk the way path lookup does: start at the visible root mount and, at each step, cross
  // into the child mount whose mount point comes first along the path. This keeps mounts
  // that are hidden under a later mount from matching.
  const MountEntry* cur = nullptr;
  for (const auto& m : mounts) {
    if (m.mount_point != "/") continue;
    bool parent_listed = std::any_of(mounts.begin(), mounts.end(), [&](const MountEntry& p) {
      return p.mount_id == m.parent_id && &p != &m;
    });
    if (!parent_listed || m.parent_id == m.mount_id) {
      cur = &m;
      break;
    }
  }
  if (!cur) {
    // No root listed (unusual chroot): fall back to the longest prefix, last listed wins.
    const MountEntry* best = nullptr;
    for (const auto& m : mounts) {
      if (path_is_under(canonical_path, m.mount_point) &&
          (!best || m.mount_point.size() >= best->mount_point.size())) {
        best = &m;
      }
    }
    return best;
  }
  cur = top_of_stack(mounts, cur);
  for (int guard = 0; guard < 4096; ++guard) {
    const MountEntry* next = nullptr;
    for (const auto& m : mounts) {
      if (m.parent_id != cur->mount_id || &m == cur || m.mount_point == cur->mount_point) continue;
      if (!path_is_under(canonical_path, m.mount_point)) continue;
      if (!next || m.mount_point.size() < next->mount_point.size() ||
          m.mount_point.size() == next->mount_point.size()) {
        next = &m;  // first crossed along the path; on a tie the later listed is on top
      }
    }
    if (!next) return cur;
    cur = top_of_stack(mounts, next);
  }
  return cur;
}

std::vector<const MountEntry*> find_submounts(const std::vector<MountEntry>& mounts,
                                              std::string_view canonical_path) {
  std::vector<const MountEntry*> out;
  for (const auto& m : mounts) {
    if (m.mount_point == canonical_path || !path_is_under(m.mount_point, canonical_path)) continue;
    if (find_mount(mounts, m.mount_point) != &m) continue;  // hidden or not top of its stack
    out.push_back(&m);
  }
  // Component-wise order ('/' sorts first), so a mount's children follow it directly:
  // /srv/data, /srv/data/cache, /srv/data-old.
  std::sort(out.begin(), out.end(), [](const MountEntry* a, const MountEntry* b) {
    return std::lexicographical_compare(
        a->mount_point.begin(), a->mount_point.end(), b->mount_point.begin(), b->mount_point.end(),
        [](char x, char y) {
          auto key = [](char c) { return c == '/' ? 0 : static_cast<unsigned char>(c) + 1; };
          return key(x) < key(y);
        });
  });
  return out;
}

}  // namespace lookout::sys
