// ev(kind, path[, is_dir]): an Event as the engine would deliver it, for pure tests of the
// front ends' rules (batch::Batcher, ingest::CompletionTracker).
#pragma once

#include <string>

#include "lookout/event.h"

namespace lookout::testing {

inline Event ev(EventKind kind, const std::string& path, bool is_dir = false) {
  Event e;
  e.kind = kind;
  e.path = path;
  e.is_dir = is_dir;
  return e;
}

}  // namespace lookout::testing
