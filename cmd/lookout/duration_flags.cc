#include "duration_flags.h"

#include "batch/duration.h"

#include <string>

namespace lookout::cmd {

std::string parse_duration_flags(std::initializer_list<DurationFlag> flags) {
  for (const DurationFlag& d : flags) {
    auto ms = batch::parse_duration_ms(d.text);
    if (!ms) return std::string(d.name) + ": '" + d.text + "' is not a duration (e.g. 150ms, 2s, 1m)";
    d.out_ms = *ms;
  }
  return {};
}

std::optional<std::int64_t> parse_seconds_or_duration(const std::string& t) {
  if (!t.empty() && t.find_first_not_of("0123456789.") == std::string::npos) {
    try {
      const double s = std::stod(t);
      if (s >= 0 && s < 1e9) return static_cast<std::int64_t>(s * 1000);
    } catch (...) {
    }
    return std::nullopt;
  }
  return batch::parse_duration_ms(t);
}

}  // namespace lookout::cmd
