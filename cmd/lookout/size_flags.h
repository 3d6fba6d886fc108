// Size flags as every subcommand words them: "16M", "512k", "1G", "1000" (bytes), a trailing
// "B" allowed. Parse time only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace lookout::cmd {

// The bytes `text` says, or nullopt when it is not a size (or does not fit 64 bits).
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace lookout::cmd
