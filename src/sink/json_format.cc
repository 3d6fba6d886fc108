#include "sink/json_format.h"

#include <chrono>

#include <fmt/format.h>

namespace lookout::sink {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string base64(std::string_view in) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                      (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {
// Valid UTF-8 is copied as is; any invalid byte becomes U+FFFD (display form only).
std::string display_form(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = 1;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len == 0 || i + len > s.size() || !valid_utf8(s.substr(i, len))) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

void append_path_field(const char* key, std::string_view path, std::string& out) {
  out.push_back(',');
  append_path_member(key, path, out);
}

void append_path_member(const char* key, std::string_view path, std::string& out) {
  out += "\"";
  out += key;
  out += "\":";
  if (valid_utf8(path)) {
    append_json_string(path, out);
    return;
  }
  append_json_string(display_form(path), out);
  out += ",\"";
  out += key;
  out += "_b64\":\"";
  out += base64(path);
  out += '"';
}

void append_json_string(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void append_rfc3339(std::int64_t realtime_ns, std::string& out) {
  // <chrono>'s civil calendar, not gmtime_r: glibc's gmtime_r loads /etc/localtime on its
  // first call (tzset), which `run` paid on the way to its first command.
  using namespace std::chrono;
  const sys_time<microseconds> t{floor<microseconds>(nanoseconds(realtime_ns))};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> hms{t - day};
  out += fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

void format_json(const Event& e, std::string& out, bool with_stat) {
  out += fmt::format("{{\"seq\":{},\"time\":\"", e.seq);
  append_rfc3339(e.time_ns, out);
  out += fmt::format("\",\"event\":\"{}\"", event_kind_name(e.kind));
  append_path_field("path", e.path, out);
  out += e.is_dir ? ",\"is_dir\":true" : ",\"is_dir\":false";
  if (e.kind == EventKind::rename) append_path_field("from", e.from, out);
  std::string_view reason = e.reason;
  if (e.kind == EventKind::backend) {
    // "poll: why" -> "backend":"poll","reason":"why"
    std::size_t colon = reason.find(": ");
    out += ",\"backend\":";
    append_json_string(reason.substr(0, colon), out);
    reason = colon == std::string_view::npos ? std::string_view{} : reason.substr(colon + 2);
  }
  if (!reason.empty()) {
    out += ",\"reason\":";
    append_json_string(reason, out);
  }
  if (with_stat && e.stat) {
    out += fmt::format(",\"dev\":{},\"ino\":{},\"size\":{},\"mtime_ns\":{}", e.stat->dev, e.stat->ino,
                       e.stat->size, e.stat->mtime_ns);
  }
  out += '}';
}

void format_json_control(std::string_view event, std::string& out) {
  out += "{\"event\":";
  append_json_string(event, out);
  out += '}';
}

}  // namespace lookout::sink
