#include "sys/close_in_background.h"

#include <system_error>
#include <thread>

namespace lookout::sys {

void close_in_background(UniqueFd fd) {
  if (!fd.valid()) return;
  try {
    std::thread([f = std::move(fd)]() mutable { f.reset(); }).detach();
  } catch (const std::system_error&) {
    // No thread to be had (a thread limit): the lambda's capture went with the failed
    // construction and closed the fd here, which only costs the wait.
  }
}

}  // namespace lookout::sys
