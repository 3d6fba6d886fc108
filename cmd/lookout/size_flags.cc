#include "size_flags.h"

#include <cctype>

namespace lookout::cmd {

std::optional<std::uint64_t> parse_size(const std::string& t) {
  if (t.empty() || !std::isdigit(static_cast<unsigned char>(t[0]))) return std::nullopt;
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(t, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = t.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  const int shift = unit.empty()                 ? 0
                    : unit == "K" || unit == "k" ? 10
                    : unit == "M" || unit == "m" ? 20
                    : unit == "G" || unit == "g" ? 30
                                                 : -1;
  if (shift < 0 || v > (~0ULL >> shift)) return std::nullopt;
  return static_cast<std::uint64_t>(v) << shift;
}

}  // namespace lookout::cmd
