#include "tail/record_format.h"

#include <fmt/format.h>

#include "sink/json_format.h"

namespace lookout::tail {

namespace {
void append_uint(std::uint64_t v, std::string& out) {
  char buf[24];
  char* e = buf + sizeof buf;
  char* p = e;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, e);
}

void append_time(std::int64_t time_ns, std::string& out) {
  out += ",\"time\":\"";
  sink::append_rfc3339(time_ns, out);
  out += '"';
}
}  // namespace

void append_line(const Format& f, const LineContext& c, const LineSplitter::PieceView& p,
                 bool partial, std::string& out) {
  if (f.kind == OutputFormat::text) {
    if (f.with_filename) {
      out.append(c.path);
      out.push_back(':');
    }
    out.append(p.text);
    out.push_back(f.terminator);
    return;
  }
  out.push_back('{');
  sink::append_path_member("path", c.path, out);
  if (sink::valid_utf8(p.text)) {
    out += ",\"line\":";
    sink::append_json_string(p.text, out);
  } else {
    out += ",\"line_b64\":\"";
    out += sink::base64(p.text);
    out += '"';
  }
  out += ",\"offset\":";
  append_uint(p.offset, out);
  out += ",\"size\":";
  append_uint(c.size, out);
  out += ",\"dev\":";
  append_uint(c.dev, out);
  out += ",\"ino\":";
  append_uint(c.ino, out);
  append_time(c.time_ns, out);
  if (partial) out += ",\"partial\":true";
  if (p.continued) out += ",\"continued\":true";
  if (p.split) out += ",\"split\":true";
  out.push_back('}');
  out.push_back(f.terminator);
}

void append_truncated(const Format& f, std::string_view path, std::uint64_t offset,
                      std::uint64_t size, std::uint64_t unread, std::int64_t time_ns,
                      std::string& out) {
  if (f.kind != OutputFormat::json) return;
  out += "{\"event\":\"truncated\",";
  sink::append_path_member("path", path, out);
  out += ",\"offset\":";
  append_uint(offset, out);
  out += ",\"size\":";
  append_uint(size, out);
  out += ",\"unread\":";
  append_uint(unread, out);
  append_time(time_ns, out);
  out.push_back('}');
  out.push_back(f.terminator);
}

void append_closed_deleted(const Format& f, std::string_view path, std::uint64_t offset,
                           std::int64_t time_ns, std::string& out) {
  if (f.kind != OutputFormat::json) return;
  out += "{\"event\":\"closed_deleted\",";
  sink::append_path_member("path", path, out);
  out += ",\"offset\":";
  append_uint(offset, out);
  append_time(time_ns, out);
  out.push_back('}');
  out.push_back(f.terminator);
}

}  // namespace lookout::tail
