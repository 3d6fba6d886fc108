// Event: one change under a watched root, as every front end sees it.
// Plain data with no dependencies beyond std. Paths are bytes (Linux names need not be
// UTF-8); escaping for display happens only in the output formats.
#pragma once

#include <cstdint>
#include <string>

namespace lookout {

// A closed set. Kernel bits lookout does not know map to `modify`, never to nothing.
enum class EventKind : std::uint8_t {
  create,
  modify,
  close_write,
  attrib,
  remove,         // "delete" in output; a removed directory means its whole subtree is gone
  rename,         // `from` holds the old path; replaces whatever was at `path`
  rescan,         // the engine lost track (overflow, ...) and is re-reading the tree;
                  // the differences follow as ordinary events
  unmount,        // the filesystem holding `path` was unmounted
  open,           // only when asked for (inotifywait -e open)
  access,         // only when asked for
  close_nowrite,  // only when asked for
  backend,        // which mechanism watches the subtree at `path` from now on, and why:
                  // reason "fanotify: ...", "poll: ...", "inotify: ..."
  move_self,      // only when asked for (inotifywait -e move_self): a watched directory (every
                  // one under -r, else the root) or a watched file was renamed; `path` is where
                  // it is now (its old path if it left the tree), after its rename/delete event
  delete_self,    // only when asked for: a watched directory or file was deleted; comes
                  // before its parent's `delete`, as inotify reports it
};

const char* event_kind_name(EventKind kind);  // "create", "delete", ... (JSON names)

struct Event {
  std::uint64_t seq = 0;         // assigned by the event log, strictly increasing
  std::int64_t time_ns = 0;      // CLOCK_REALTIME when the engine saw it
  EventKind kind = EventKind::modify;
  bool is_dir = false;
  std::string path;              // absolute path, as bytes
  std::string from;              // rename only: the old absolute path
  std::string reason;            // rescan: "overflow", "fresh", ...; backend: "poll: why"
};

}  // namespace lookout
