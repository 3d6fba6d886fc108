// How the command line words the engine's errors and diagnostics. The library reports causes
// as data (Error::cause plus its path and errno) and its messages name no CLI flag; here the
// message gets the flag that caused a decision or the one to use instead. Pure, thread-safe.
#pragma once

#include <string>

#include "lookout/result.h"

namespace lookout::cmd {

// `e.message`, completed for the command line according to `e.cause`:
//   poll_asked          "poll for P: asked for with --backend poll"
//   fanotify_asked      "fanotify for P: asked for with --backend fanotify"
//   overlay_poll_asked  "poll for P: overlay with --poll-overlay: ..."
//   fanotify_unusable   "...; use --backend auto or inotify"
//   unknown_event_name  "...; see 'lookout watch --help' for the list"
// Other causes: the message unchanged.
std::string diagnostic_words(const Error& e);

}  // namespace lookout::cmd
