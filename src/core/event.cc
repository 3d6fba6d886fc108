#include "lookout/event.h"

namespace lookout {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::create: return "create";
    case EventKind::modify: return "modify";
    case EventKind::close_write: return "close_write";
    case EventKind::attrib: return "attrib";
    case EventKind::remove: return "delete";
    case EventKind::rename: return "rename";
    case EventKind::rescan: return "rescan";
    case EventKind::unmount: return "unmount";
    case EventKind::open: return "open";
    case EventKind::access: return "access";
    case EventKind::close_nowrite: return "close_nowrite";
    case EventKind::backend: return "backend";
    case EventKind::move_self: return "move_self";
    case EventKind::delete_self: return "delete_self";
    case EventKind::exists: return "exists";
  }
  return "modify";
}

}  // namespace lookout
