// Signal names as users write them: "HUP", "SIGHUP", "hup" or a number. Pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lookout::proc {

// The signal number for `text`, or nullopt when it names no signal.
std::optional<int> parse_signal(std::string_view text);
// "HUP", "TERM", ...; the number as text for one without a name.
std::string signal_name(int sig);

}  // namespace lookout::proc
