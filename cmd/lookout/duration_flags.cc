#include "duration_flags.h"

#include "batch/duration.h"

namespace lookout::cmd {

std::string parse_duration_flags(std::initializer_list<DurationFlag> flags) {
  for (const DurationFlag& d : flags) {
    auto ms = batch::parse_duration_ms(d.text);
    if (!ms) return std::string(d.name) + ": '" + d.text + "' is not a duration (e.g. 150ms, 2s, 1m)";
    d.out_ms = *ms;
  }
  return {};
}

}  // namespace lookout::cmd
