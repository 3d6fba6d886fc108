// InotifywaitFormat: prints Events the way inotifywait(1) does, so existing scripts keep
// working: default "%w %e %f", --format with %w %f %e %Xe %c %T %0, --csv, --timefmt, -e
// event names. A rename prints as the MOVED_FROM and MOVED_TO lines inotifywait would print;
// entries moved in or out of the tree print as MOVED_TO/MOVED_FROM; a rescan prints
// Q_OVERFLOW. Paths keep the spelling the user gave for the watched root.
// %c is a cookie this formatter numbers itself (1, 2, ... per run), the same on both lines
// of a rename, 0 for other events: uniform across inotify, fanotify and polling, which have
// no kernel cookie. Not thread-safe: one formatter per output stream.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lookout/event.h"
#include "lookout/result.h"

namespace lookout::sink {

struct InotifywaitOptions {
  std::string format;        // empty: inotifywait's default "%w %e %f"
  std::string timefmt;       // strftime format for %T
  bool csv = false;
  bool nul = false;          // -0: end each record with NUL instead of newline
  bool no_newline = false;   // --no-newline
  std::uint32_t events = 0;  // inotify IN_* bits asked with -e; 0 = all
  // (absolute root, as the user spelled it) pairs
  std::vector<std::pair<std::string, std::string>> roots;
};

// Parses inotifywait -e names ("create", "close", "move", ...) into IN_* bits.
Result<std::uint32_t> parse_inotify_event_names(const std::vector<std::string>& names);

class InotifywaitFormat {
 public:
  explicit InotifywaitFormat(InotifywaitOptions opt) : opt_(std::move(opt)) {}
  // Appends the lines for `e` (zero, one or two) to `out`.
  void format(const Event& e, std::string& out);

 private:
  void line(const Event& e, const std::string& path, std::uint32_t mask, std::uint32_t cookie,
            std::string& out) const;
  // (%w, %f) for `path`; `whole`: the path is what is watched itself (a *_SELF event).
  std::pair<std::string, std::string> split(const std::string& path, bool whole, bool is_dir) const;
  std::uint32_t next_cookie();
  InotifywaitOptions opt_;
  std::uint32_t cookie_ = 0;
};

}  // namespace lookout::sink
