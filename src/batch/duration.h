// Durations as users write them: "150ms", "2s", "1.5s", "1m", "1h"; a bare number is
// milliseconds. Pure, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace lookout::batch {

// Milliseconds, or nullopt when `text` is not a duration (negative, no digits, unknown unit).
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

}  // namespace lookout::batch
