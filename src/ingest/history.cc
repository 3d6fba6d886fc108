#include "ingest/history.h"

#include <fnmatch.h>

#include <climits>
#include <ctime>

#include "batch/duration.h"
#include "sink/json_format.h"
#include "store/journal.h"

namespace lookout::ingest {

namespace {

// Bytes made safe for a terminal: control characters and bytes of invalid UTF-8 as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len && i + len <= s.size() && sink::valid_utf8(std::string_view(s).substr(i, len))) {
        out.append(s, i, len);  // a valid character, kept whole
        i += len - 1;
        continue;
      }
    } else if (c >= 0x20 && c != 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    char b[8];
    std::snprintf(b, sizeof b, "\\x%02x", c);
    out += b;
  }
  return out;
}

void field(const char* key, const std::optional<std::string>& v, std::string& out) {
  if (!v) {
    out += ",\"";
    out += key;
    out += "\":null";
    return;
  }
  sink::append_path_field(key, *v, out);
}

template <typename T>
void number(const char* key, const std::optional<T>& v, std::string& out) {
  out += ",\"";
  out += key;
  out += "\":";
  out += v ? std::to_string(*v) : "null";
}

std::string json_row(const store::Row& r) {
  std::string out = "{\"id\":" + std::to_string(r.id);
  sink::append_path_field("path", r.path, out);
  out += ",\"dev\":" + std::to_string(r.version.dev) + ",\"ino\":" + std::to_string(r.version.ino) +
         ",\"size\":" + std::to_string(r.version.size) + ",\"mtime_ns\":" + std::to_string(r.version.mtime_ns);
  field("hash", r.hash, out);
  field("first_seen", r.first_seen, out);
  field("started", r.started, out);
  field("finished", r.finished, out);
  out += ",\"attempts\":" + std::to_string(r.attempts);
  field("status", r.status, out);
  number("exit_status", r.exit_status, out);
  number("duration_ms", r.duration_ms, out);
  field("note", r.note, out);
  field("stdout_tail", r.stdout_tail, out);
  field("stderr_tail", r.stderr_tail, out);
  field("moved_to", r.moved_to, out);
  if (r.content) field("content", r.content, out);
  out += "}\n";
  return out;
}

std::string relative_to(const std::string& path, const std::string& dir) {
  if (!dir.empty() && path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/') {
    return path.substr(dir.size() + 1);
  }
  return path;
}

void write(std::FILE* out, const std::string& s) { std::fwrite(s.data(), 1, s.size(), out); }

}  // namespace

std::optional<std::string> since_bound(const std::string& text, std::int64_t now_ns) {
  if (auto ms = batch::parse_duration_ms(text)) return store::rfc3339(now_ns - *ms * 1000000);
  std::string t = text;
  if (!t.empty() && (t.back() == 'Z' || t.back() == 'z')) t.pop_back();
  if (t.size() > 10 && t[10] == ' ') t[10] = 'T';
  struct tm tm = {};
  const char* end = nullptr;
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    tm = {};
    end = ::strptime(t.c_str(), fmt, &tm);
    if (end) break;
  }
  if (!end) return std::nullopt;
  long long frac_ns = 0;
  if (*end == '.') {
    long long scale = 100000000;
    for (++end; *end >= '0' && *end <= '9'; ++end, scale /= 10) frac_ns += (*end - '0') * scale;
  }
  if (*end != '\0') return std::nullopt;
  const std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm));
  // Past what nanoseconds in 64 bits hold (year 2262): later than every row.
  if (secs >= INT64_MAX / 1000000000 - 1) return std::string("9999-12-31T23:59:59.999999Z");
  return store::rfc3339(secs * 1000000000 + frac_ns);
}

Result<int> history(const HistoryOptions& o, std::FILE* out) {
  store::OpenOptions oo;
  oo.read_only = true;
  auto j = store::Journal::open(o.journal, oo);
  if (!j) return j.error();
  const std::string dir = o.dir.empty() ? (*j)->meta("dir").value_or("") : o.dir;
  store::Query q;
  q.since = o.since;
  q.status = o.status;
  q.id = o.show_id;
  q.with_content = o.show_id != 0;
  auto rows = (*j)->query(q);
  if (!rows) return rows.error();
  if (o.show_id != 0 && rows->empty()) {
    return Error{ErrorCode::not_found, 0, o.journal,
                 "journal " + o.journal + " has no row with id " + std::to_string(o.show_id)};
  }
  if (!o.json && o.show_id == 0) {
    std::fprintf(out, "%6s  %-7s  %5s  %-27s  %8s  %10s  %s\n", "ID", "STATUS", "TRIES", "FIRST_SEEN", "MS", "SIZE", "PATH");
  }
  for (const store::Row& r : *rows) {
    if (!o.path_glob.empty()) {
      const std::string rel = relative_to(r.path, dir);
      if (::fnmatch(o.path_glob.c_str(), r.path.c_str(), 0) != 0 && ::fnmatch(o.path_glob.c_str(), rel.c_str(), 0) != 0) {
        continue;
      }
    }
    if (o.json) {
      write(out, json_row(r));
      continue;
    }
    if (o.show_id != 0) {
      auto line = [&](const char* k, const std::optional<std::string>& v) {
        std::fprintf(out, "%-12s %s\n", k, v ? printable(*v).c_str() : "NULL");
      };
      auto num = [&](const char* k, auto v) { std::fprintf(out, "%-12s %s\n", k, v ? std::to_string(*v).c_str() : "NULL"); };
      num("id", std::optional<std::int64_t>(r.id));
      line("path", r.path);
      num("dev", std::optional<std::uint64_t>(r.version.dev));
      num("ino", std::optional<std::uint64_t>(r.version.ino));
      num("size", std::optional<std::uint64_t>(r.version.size));
      num("mtime_ns", std::optional<std::int64_t>(r.version.mtime_ns));
      line("hash", r.hash);
      line("first_seen", r.first_seen);
      line("started", r.started);
      line("finished", r.finished);
      num("attempts", std::optional<int>(r.attempts));
      line("status", r.status);
      num("exit_status", r.exit_status);
      num("duration_ms", r.duration_ms);
      line("note", r.note);
      line("moved_to", r.moved_to);
      for (auto [k, v] : {std::pair{"stdout_tail", &r.stdout_tail}, std::pair{"stderr_tail", &r.stderr_tail}}) {
        if (v->has_value()) std::fprintf(out, "%s:\n%s%s", k, (*v)->c_str(), (*v)->empty() || (*v)->back() == '\n' ? "" : "\n");
      }
      if (r.content) {
        std::fprintf(out, "content (%zu bytes):\n", r.content->size());
        write(out, *r.content);
      } else {
        std::fprintf(out, "content      NULL (stored only with --store)\n");
      }
      continue;
    }
    std::fprintf(out, "%6lld  %-7s  %5d  %-27s  %8s  %10llu  %s\n", static_cast<long long>(r.id), r.status.c_str(),
                 r.attempts, r.first_seen.c_str(), r.duration_ms ? std::to_string(*r.duration_ms).c_str() : "-",
                 static_cast<unsigned long long>(r.version.size), printable(relative_to(r.path, dir)).c_str());
  }
  std::fflush(out);
  return 0;
}

}  // namespace lookout::ingest
