// JSON Lines output: one object per event,
//   {"seq":N,"time":"<RFC 3339 UTC, µs>","event":E,"path":P,"is_dir":B[,"from":F]}
// plus "reason" on rescans and on moves in/out of the tree, and with `with_stat` the entry's
// identity and stamps when known: "dev","ino","size","mtime_ns" (--json-stat). Names that are not valid UTF-8
// are shown with U+FFFD in "path"/"from" and given losslessly in "path_b64"/"from_b64".
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lookout/event.h"

namespace lookout::sink {

void format_json(const Event& e, std::string& out, bool with_stat = false);
// {"event":"ready"} and similar control records.
void format_json_control(std::string_view event, std::string& out);
// "2026-12-05T23:35:08.596370Z": RFC 3339 UTC with microseconds, as the "time" fields.
void append_rfc3339(std::int64_t realtime_ns, std::string& out);
// Helpers shared with tests.
bool valid_utf8(std::string_view s);
std::string base64(std::string_view bytes);
void append_json_string(std::string_view s, std::string& out);
// `"key":"<path>"`, and `,"key_b64":"<bytes>"` when the path is not valid UTF-8 (the rule
// above), for every JSON output that carries a path; append_path_field puts a comma first.
void append_path_member(const char* key, std::string_view path, std::string& out);
void append_path_field(const char* key, std::string_view path, std::string& out);

}  // namespace lookout::sink
