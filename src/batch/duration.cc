#include "batch/duration.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace lookout::batch {

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  const std::string number(text.substr(0, digits));
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  double scale;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m" || unit == "min") {
    scale = 60000;
  } else if (unit == "h") {
    scale = 3600000;
  } else {
    return std::nullopt;
  }
  double ms = v * scale;
  if (ms > 365.0 * 24 * 3600 * 1000) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(ms));
}

}  // namespace lookout::batch
