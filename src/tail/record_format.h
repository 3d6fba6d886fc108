// How tail's records look on the output. Text: "PATH:LINE" (or the bare line) ending in LF or,
// with -0, NUL. JSON Lines: one object per line,
//   {"path":P,"line":L,"offset":N,"size":N,"dev":N,"ino":N,"time":T[,"partial":true]
//    [,"continued":true][,"split":true]}
// with "line_b64" instead of "line" when the bytes are not valid UTF-8 (and "path_b64"
// beside "path", the rule of `watch --json`), and control records
//   {"event":"truncated","path":P,"offset":N,"size":N,"unread":N,"time":T}
//   {"event":"closed_deleted","path":P,"offset":N,"time":T}
// Stateless and thread-safe; appends to a caller's buffer (no allocation per record beyond
// its growth).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tail/line_splitter.h"
#include "tail/tail_options.h"

namespace lookout::tail {

struct LineContext {
  std::string_view path;
  std::uint64_t size = 0;  // the file's size when read
  std::uint64_t dev = 0, ino = 0;
  std::int64_t time_ns = 0;  // CLOCK_REALTIME when read
};

struct Format {
  OutputFormat kind = OutputFormat::text;
  bool with_filename = true;
  char terminator = '\n';
};

void append_line(const Format& f, const LineContext& c, const LineSplitter::PieceView& p,
                 bool partial, std::string& out);
inline void append_line(const Format& f, const LineContext& c, const Piece& p, std::string& out) {
  append_line(f, c, LineSplitter::PieceView{p.offset, p.text, p.continued, p.split}, p.partial,
              out);
}

// A control record for JSON output (the caller prints text formats' notes on stderr).
void append_truncated(const Format& f, std::string_view path, std::uint64_t offset,
                      std::uint64_t size, std::uint64_t unread, std::int64_t time_ns,
                      std::string& out);
void append_closed_deleted(const Format& f, std::string_view path, std::uint64_t offset,
                           std::int64_t time_ns, std::string& out);

}  // namespace lookout::tail
