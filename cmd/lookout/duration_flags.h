// Duration flags as every subcommand words them: "150ms", "2s", "1m" (batch::parse_duration_ms),
// checked together so each command has one loop and one message. Parse time only.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

namespace lookout::cmd {

struct DurationFlag {
  const char* name;  // "--settle"
  const std::string& text;
  std::int64_t& out_ms;
};

// Fills each out_ms; the first flag that is not a duration as one line naming it, empty when
// all are.
std::string parse_duration_flags(std::initializer_list<DurationFlag> flags);

// Options given in seconds (--timeout SEC, --retry-max SEC): a bare number is seconds, as
// timeout(1) reads it; else a duration ("90s", "2m"). Milliseconds, nullopt when neither.
std::optional<std::int64_t> parse_seconds_or_duration(const std::string& text);

}  // namespace lookout::cmd
