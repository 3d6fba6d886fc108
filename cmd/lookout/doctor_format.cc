// Text and JSON rendering of a DoctorReport (see doctor_report.h). Pure.
#include <fmt/format.h>

#include <cstring>

#include "doctor_report.h"
#include "sink/json_format.h"

namespace lookout::cmd {

namespace {

// ---- text ----

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string fanotify_text(const sys::FanotifyProbe& f) {
  return f.available ? "available (" + f.reason + ")" : "not available: " + f.reason;
}

std::string dirs_text(const DirCount& c) {
  std::string s = fmt::format("{}{}", c.truncated ? "more than " : "", c.dirs);
  if (c.unreadable > 0) s += fmt::format(" ({} could not be read)", c.unreadable);
  return s;
}

void mount_text(const MountReport& m, const std::string& indent, std::string& out) {
  if (!m.error.empty()) {
    out += fmt::format("{}error        {}\n", indent, m.error);
    return;
  }
  out += fmt::format("{}filesystem   {} (magic {:#x}) mounted at {}{}\n", indent, m.fs.fs_type,
                     m.fs.magic, m.fs.mount_point.empty() ? "?" : m.fs.mount_point,
                     m.fs.source.empty() ? "" : " from " + m.fs.source);
  out += fmt::format("{}backend      {}: {}\n", indent, backend_kind_name(m.choice.backend),
                     m.choice.reason);
  out += fmt::format("{}fanotify     {}\n", indent, fanotify_text(m.fanotify));
}

// ---- JSON ----

// Paths are bytes; JSON strings must be UTF-8. Invalid bytes become U+FFFD here (doctor
// output is for reading, so the lossless _b64 form the event stream uses is not needed).
void json_string(std::string_view s, std::string& out) {
  if (sink::valid_utf8(s)) {
    sink::append_json_string(s, out);
    return;
  }
  std::string clean;
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80             ? 1
                      : (c & 0xE0) == 0xC0 ? 2
                      : (c & 0xF0) == 0xE0 ? 3
                      : (c & 0xF8) == 0xF0 ? 4
                                           : 0;
    if (len == 0 || i + len > s.size() || !sink::valid_utf8(s.substr(i, len))) {
      clean += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    clean.append(s.substr(i, len));
    i += len;
  }
  sink::append_json_string(clean, out);
}

void key(const char* k, std::string& out) {
  if (!out.empty() && out.back() != '{' && out.back() != '[') out += ',';
  sink::append_json_string(k, out);
  out += ':';
}
void str(const char* k, std::string_view v, std::string& out) {
  key(k, out);
  json_string(v, out);
}
void num(const char* k, std::int64_t v, std::string& out) {
  key(k, out);
  out += std::to_string(v);
}
void boolean(const char* k, bool v, std::string& out) {
  key(k, out);
  out += v ? "true" : "false";
}
void open_array_item(std::string& out) {
  if (out.back() != '[') out += ',';
}

void fanotify_json(const sys::FanotifyProbe& f, std::string& out) {
  key("fanotify", out);
  out += '{';
  boolean("available", f.available, out);
  num("errno", f.sys_errno, out);
  const char* name = f.sys_errno ? ::strerrorname_np(f.sys_errno) : nullptr;
  str("errno_name", name ? name : "", out);
  str("failed_call", f.failed_call, out);
  str("reason", f.reason, out);
  out += '}';
}

void mount_json(const MountReport& m, std::string& out) {
  out += '{';
  if (!m.error.empty()) {
    str("error", m.error, out);
    out += '}';
    return;
  }
  str("mount_point", m.fs.mount_point, out);
  str("fs_type", m.fs.fs_type, out);
  str("magic", fmt::format("{:#x}", m.fs.magic), out);
  str("source", m.fs.source, out);
  boolean("is_remote", m.fs.is_remote, out);
  boolean("is_fuse", m.fs.is_fuse, out);
  boolean("is_overlay", m.fs.is_overlay, out);
  boolean("is_pseudo", m.fs.is_pseudo, out);
  str("fs_backend", backend_kind_name(m.fs.backend), out);
  str("fs_reason", m.fs.reason, out);
  str("backend", backend_kind_name(m.choice.backend), out);
  str("reason", m.choice.reason, out);
  num("directories", static_cast<std::int64_t>(m.dirs), out);
  boolean("walked", m.walked, out);
  fanotify_json(m.fanotify, out);
  out += '}';
}

}  // namespace

void format_doctor_text(const DoctorReport& r, std::string& out) {
  for (const auto& p : r.paths) {
    if (!p.error.empty()) {
      out += fmt::format("{}\n  error        {}\n\n", p.path, p.error);
      continue;
    }
    out += p.real_path == p.path ? p.path + "\n" : fmt::format("{} ({})\n", p.path, p.real_path);
    mount_text(p.mount, "  ", out);
    const std::int64_t left = r.inotify.remaining_watches();
    const std::string left_text = left < 0 ? std::string("unknown") : std::to_string(left);
    if (p.is_dir) {
      out += fmt::format("  directories  {}; {} need inotify watches, {} left\n",
                         dirs_text(p.count), p.inotify_dirs, left_text);
    } else {
      out += fmt::format("  directories  none (a file: one watch), {} left\n", left_text);
    }
    if (!p.submounts.empty()) {
      out += fmt::format("  submounts    {}\n", p.submounts.size());
      for (const auto& s : p.submounts) {
        out += fmt::format("    {} ({})\n", s.fs.mount_point.empty() ? "?" : s.fs.mount_point,
                           s.walked ? plural(s.dirs, "directory", "directories")
                                    : std::string("not walked: pseudo filesystem"));
        mount_text(s, "      ", out);
      }
    }
    out += '\n';
  }
  const auto& l = r.inotify;
  auto n = [](std::int64_t v) { return v < 0 ? std::string("unknown") : std::to_string(v); };
  out += fmt::format("inotify (uid {})\n", l.uid);
  out += fmt::format("  watches      {} used of {} ({}), {} left\n", l.used_watches,
                     n(l.limits.max_user_watches), l.limits.watches_knob, n(l.remaining_watches()));
  out += fmt::format("  instances    {} used of {}\n", l.used_instances,
                     n(l.limits.max_user_instances));
  out += fmt::format("  queue        {} events per instance\n", n(l.limits.max_queued_events));
  if (l.top.empty()) {
    out += "  top users    none\n";
  } else {
    for (std::size_t i = 0; i < l.top.size(); ++i) {
      const auto& u = l.top[i];
      out += fmt::format("  {}pid {} ({}): {} in {}\n", i == 0 ? "top users    " : "             ",
                         u.pid, u.comm, plural(u.watches, "watch", "watches"),
                         plural(u.instances, "instance", "instances"));
    }
  }
  out += fmt::format("\nCAP_SYS_ADMIN  {}\n", r.cap_sys_admin ? "yes" : "no");
  out += "container      ";
  if (r.container.detected) {
    out += "yes:";
    for (std::size_t i = 0; i < r.container.evidence.size(); ++i) {
      out += (i ? ", " : " ") + r.container.evidence[i];
    }
    out += '\n';
  } else {
    out += "no sign of one\n";
  }
  if (!r.advice.empty()) {
    out += "\nadvice\n";
    for (const auto& a : r.advice) out += "  - " + a + "\n";
  }
}

void format_doctor_json(const DoctorReport& r, std::string& out) {
  std::string j = "{";
  key("paths", j);
  j += '[';
  for (const auto& p : r.paths) {
    open_array_item(j);
    j += '{';
    str("path", p.path, j);
    if (!p.error.empty()) {
      str("error", p.error, j);
      j += '}';
      continue;
    }
    str("real_path", p.real_path, j);
    boolean("is_dir", p.is_dir, j);
    boolean("kubernetes_subpath", p.kube_subpath, j);
    key("mount", j);
    mount_json(p.mount, j);
    str("backend", backend_kind_name(p.mount.choice.backend), j);
    str("reason", p.mount.choice.reason, j);
    num("directories", static_cast<std::int64_t>(p.count.dirs), j);
    boolean("directories_truncated", p.count.truncated, j);
    num("unreadable_directories", static_cast<std::int64_t>(p.count.unreadable), j);
    num("inotify_directories", static_cast<std::int64_t>(p.inotify_dirs), j);
    key("submounts", j);
    j += '[';
    for (const auto& s : p.submounts) {
      open_array_item(j);
      mount_json(s, j);
    }
    j += "]}";
  }
  j += ']';
  const auto& l = r.inotify;
  key("inotify", j);
  j += '{';
  num("uid", l.uid, j);
  num("max_user_watches", l.limits.max_user_watches, j);
  str("watches_knob", l.limits.watches_knob, j);
  num("max_user_instances", l.limits.max_user_instances, j);
  num("max_queued_events", l.limits.max_queued_events, j);
  num("used_watches", l.used_watches, j);
  num("used_instances", l.used_instances, j);
  num("remaining_watches", l.remaining_watches(), j);
  key("top", j);
  j += '[';
  for (const auto& u : l.top) {
    open_array_item(j);
    j += '{';
    num("pid", u.pid, j);
    str("comm", u.comm, j);
    num("watches", u.watches, j);
    num("instances", u.instances, j);
    j += '}';
  }
  j += "]}";
  boolean("cap_sys_admin", r.cap_sys_admin, j);
  key("container", j);
  j += '{';
  boolean("detected", r.container.detected, j);
  key("evidence", j);
  j += '[';
  for (const auto& e : r.container.evidence) {
    open_array_item(j);
    json_string(e, j);
  }
  j += "]}";
  key("advice", j);
  j += '[';
  for (const auto& a : r.advice) {
    open_array_item(j);
    json_string(a, j);
  }
  j += "]}";
  out += j;
}

}  // namespace lookout::cmd
