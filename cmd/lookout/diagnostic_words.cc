#include "diagnostic_words.h"

namespace lookout::cmd {

std::string diagnostic_words(const Error& e) {
  switch (e.cause) {
    case Cause::poll_asked:
      return e.message + " with --backend poll";
    case Cause::fanotify_asked:
      return e.message + " with --backend fanotify";
    case Cause::overlay_poll_asked:
      return "poll for " + e.path +
             ": overlay with --poll-overlay: writes made directly to its layers raise no event on "
             "the merged tree, so it is polled";
    case Cause::fanotify_unusable:
      return e.message + "; use --backend auto or inotify";
    case Cause::unknown_event_name:
      return e.message + "; see 'lookout watch --help' for the list";
    case Cause::checksum_unreadable:  // "content checksum: cannot read P: ..." says it all
    case Cause::none:
      break;
  }
  return e.message;
}

}  // namespace lookout::cmd
