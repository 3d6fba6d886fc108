#include "sink/inotifywait_format.h"

#include <sys/inotify.h>
#include <time.h>

#include <array>

namespace lookout::sink {

namespace {
struct Name {
  const char* name;
  std::uint32_t bits;
};
// The order inotifywait prints names in (inotifytools_event_to_str).
constexpr std::array<Name, 16> kNames = {{
    {"ACCESS", IN_ACCESS},         {"MODIFY", IN_MODIFY},
    {"ATTRIB", IN_ATTRIB},         {"CLOSE_WRITE", IN_CLOSE_WRITE},
    {"CLOSE_NOWRITE", IN_CLOSE_NOWRITE}, {"OPEN", IN_OPEN},
    {"MOVED_FROM", IN_MOVED_FROM}, {"MOVED_TO", IN_MOVED_TO},
    {"CREATE", IN_CREATE},         {"DELETE", IN_DELETE},
    {"DELETE_SELF", IN_DELETE_SELF}, {"MOVE_SELF", IN_MOVE_SELF},
    {"UNMOUNT", IN_UNMOUNT},       {"Q_OVERFLOW", IN_Q_OVERFLOW},
    {"IGNORED", IN_IGNORED},       {"CLOSE", IN_CLOSE},
}};

std::uint32_t mask_of(const Event& e) {
  switch (e.kind) {
    case EventKind::create: return e.reason == "moved_in" ? IN_MOVED_TO : IN_CREATE;
    case EventKind::modify: return IN_MODIFY;
    case EventKind::close_write: return IN_CLOSE_WRITE;
    case EventKind::attrib: return IN_ATTRIB;
    case EventKind::remove: return e.reason == "moved_out" ? IN_MOVED_FROM : IN_DELETE;
    case EventKind::rename: return IN_MOVED_FROM | IN_MOVED_TO;
    case EventKind::rescan: return IN_Q_OVERFLOW;
    case EventKind::unmount: return IN_UNMOUNT;
    case EventKind::open: return IN_OPEN;
    case EventKind::access: return IN_ACCESS;
    case EventKind::close_nowrite: return IN_CLOSE_NOWRITE;
    case EventKind::backend: return 0;  // no inotify counterpart: JSON and --verbose only
    case EventKind::exists: return 0;   // a listing, not a change: subscriptions only
    case EventKind::move_self: return IN_MOVE_SELF;
    case EventKind::delete_self: return IN_DELETE_SELF;
  }
  return IN_MODIFY;
}

std::string names_of(std::uint32_t mask, bool is_dir, char sep) {
  std::string s;
  for (const auto& n : kNames) {
    bool has = n.bits == IN_CLOSE ? (mask & IN_CLOSE) != 0 : (mask & n.bits) == n.bits;
    if (!has) continue;
    if (!s.empty()) s.push_back(sep);
    s += n.name;
  }
  if (is_dir) {
    s.push_back(sep);
    s += "ISDIR";
  }
  return s;
}

std::string csv_field(const std::string& f) {
  if (f.find_first_of(",\"\n\r ") == std::string::npos) return f;
  std::string out = "\"";
  for (char c : f) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}
}  // namespace

Result<std::uint32_t> parse_inotify_event_names(const std::vector<std::string>& names) {
  std::uint32_t m = 0;
  for (const auto& raw : names) {
    // inotifywait accepts "-e a,b" as well as repeated -e.
    std::size_t start = 0;
    while (start <= raw.size()) {
      std::size_t comma = raw.find(',', start);
      std::string n = raw.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      start = comma == std::string::npos ? raw.size() + 1 : comma + 1;
      if (n.empty()) continue;
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (n == "close") { m |= IN_CLOSE; continue; }
      if (n == "move" || n == "rename") { m |= IN_MOVE; continue; }
      if (n == "all_events" || n == "all") { m |= IN_ALL_EVENTS; continue; }
      bool found = false;
      for (const auto& k : kNames) {
        std::string lower = k.name;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == n) {
          m |= k.bits;
          found = true;
        }
      }
      if (!found) {
        return Error{ErrorCode::invalid_argument, 0, n, "'" + n + "' is not a valid event",
                     Cause::unknown_event_name};
      }
    }
  }
  return m;
}

std::pair<std::string, std::string> InotifywaitFormat::split(const std::string& path,
                                                             bool whole, bool is_dir) const {
  // Replace the absolute root with the user's spelling of it, like inotifywait's %w.
  std::string shown = path;
  bool is_root = false;
  for (const auto& [abs, user] : opt_.roots) {
    if (path == abs) {
      shown = user;
      is_root = true;
      break;
    }
    if (path.size() > abs.size() && path.compare(0, abs.size(), abs) == 0 &&
        (path[abs.size()] == '/' || abs == "/")) {
      std::string u = user;
      if (!u.empty() && u.back() == '/' && path[abs.size()] == '/') u.pop_back();
      shown = u + path.substr(abs.size());
      break;
    }
  }
  // What inotifywait holds a watch on (a root, or a directory's own *_SELF event) is all %w:
  // a directory with a '/' appended, a file as it is (`inotifywait f` prints "f ATTRIB ").
  if (is_root || whole) {
    if (is_dir && !shown.empty() && shown.back() != '/') shown.push_back('/');
    return {shown, ""};
  }
  std::size_t slash = shown.rfind('/');
  if (slash == std::string::npos) return {"", shown};
  return {shown.substr(0, slash + 1), shown.substr(slash + 1)};
}

void InotifywaitFormat::line(const Event& e, const std::string& path, std::uint32_t mask,
                             std::uint32_t cookie, std::string& out) const {
  const bool self = e.kind == EventKind::move_self || e.kind == EventKind::delete_self;
  auto [w, f] = e.kind == EventKind::rescan ? std::pair<std::string, std::string>{}
                                            : split(path, self, e.is_dir);
  // inotify sets no IN_ISDIR on *_SELF events: inotifywait prints "d/ DELETE_SELF ".
  const bool isdir_flag = e.is_dir && !self;
  if (opt_.csv) {
    out += csv_field(w);
    out.push_back(',');
    out += csv_field(names_of(mask, isdir_flag, ','));
    out.push_back(',');
    out += csv_field(f);
  } else if (opt_.format.empty()) {
    out += w;
    out.push_back(' ');
    out += names_of(mask, isdir_flag, ',');
    out.push_back(' ');
    out += f;
  } else {
    const std::string& fmt = opt_.format;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
      char c = fmt[i];
      if (c != '%' || i + 1 >= fmt.size()) {
        out.push_back(c);
        continue;
      }
      char d = fmt[++i];
      switch (d) {
        case 'w': out += w; break;
        case 'f': out += f; break;
        case 'e': out += names_of(mask, isdir_flag, ','); break;
        case 'c': out += std::to_string(cookie); break;
        case '0': out.push_back('\0'); break;
        case 'n': out.push_back('\n'); break;
        case '%': out.push_back('%'); break;
        case 'T': {
          char buf[256] = "";
          time_t t = static_cast<time_t>(e.time_ns / 1000000000);
          struct tm tm;
          ::localtime_r(&t, &tm);
          if (!opt_.timefmt.empty()) ::strftime(buf, sizeof buf, opt_.timefmt.c_str(), &tm);
          out += buf;
          break;
        }
        default:
          // %Xe: names separated by the character X
          if (i + 1 < fmt.size() && fmt[i + 1] == 'e') {
            out += names_of(mask, isdir_flag, d);
            ++i;
          } else {
            out.push_back('%');
            out.push_back(d);
          }
      }
    }
  }
  if (!opt_.no_newline) out.push_back(opt_.nul ? '\0' : '\n');
}

void InotifywaitFormat::format(const Event& e, std::string& out) {
  std::uint32_t mask = mask_of(e);
  std::uint32_t wanted = opt_.events == 0 ? ~0u : opt_.events | IN_Q_OVERFLOW | IN_UNMOUNT;
  if (e.kind == EventKind::rename) {
    std::uint32_t cookie = next_cookie();
    if (wanted & IN_MOVED_FROM) line(e, e.from, IN_MOVED_FROM, cookie, out);
    if (wanted & IN_MOVED_TO) line(e, e.path, IN_MOVED_TO, cookie, out);
    return;
  }
  if (!(mask & wanted)) return;
  // A move across the tree's border has a cookie in inotify too, with no partner to share it.
  line(e, e.path, mask, mask & IN_MOVE ? next_cookie() : 0, out);
}

std::uint32_t InotifywaitFormat::next_cookie() {
  if (++cookie_ == 0) cookie_ = 1;  // 0 means "no cookie"
  return cookie_;
}

}  // namespace lookout::sink
