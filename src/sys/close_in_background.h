// Closing an inotify or fanotify instance that held a mark waits for the kernel's SRCU grace
// period before close() returns (fsnotify_destroy_group: 4-5 ms measured here, with no CPU
// spent), which start-up paid twice before ready. Such an fd is handed to a short-lived
// thread instead.
#pragma once

#include "sys/unique_fd.h"

namespace lookout::sys {

// Closes `fd` on a detached thread; the caller must not use its number any more.
void close_in_background(UniqueFd fd);

// Returns once every close handed over so far has returned (for a caller that counts free fds).
void wait_for_background_closes();

}  // namespace lookout::sys
