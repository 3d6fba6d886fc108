// Event: one change under a watched root, as every front end sees it.
// Plain data with no dependencies beyond std. Paths are bytes (Linux names need not be
// UTF-8); escaping for display happens only in the output formats.
#pragma once

#include <cstdint>
#include <optional>
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
  exists,         // only for a subscription that asked for report_existing: an entry that was
                  // in the tree when the subscription began (one per entry, after ready)
};

const char* event_kind_name(EventKind kind);  // "create", "delete", ... (JSON names)

// Which kinds of events to report, as a bit set of EventKind.
using EventMask = std::uint32_t;
constexpr EventMask event_bit(EventKind k) { return 1u << static_cast<unsigned>(k); }
constexpr EventMask kDefaultEvents =
    event_bit(EventKind::create) | event_bit(EventKind::modify) |
    event_bit(EventKind::close_write) | event_bit(EventKind::attrib) |
    event_bit(EventKind::remove) | event_bit(EventKind::rename) | event_bit(EventKind::rescan) |
    event_bit(EventKind::unmount) | event_bit(EventKind::backend);

// An entry's identity and stamps as the tree model last saw them (lstat, not followed).
// Front ends use it to tell "the same file" apart from a new one at the same name (tail's
// rotation and truncation, ingest's versions, sync's moves).
struct EntryStat {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

struct Event {
  std::uint64_t seq = 0;         // position in its subscription's stream: 1, 2, 3, ... with no
                                 // gap (a gap would mean a lost event)
  std::int64_t time_ns = 0;      // CLOCK_REALTIME when the engine saw it
  EventKind kind = EventKind::modify;
  bool is_dir = false;
  std::string path;              // absolute path, as bytes
  std::string from;              // rename only: the old absolute path
  // rescan: "overflow", "fresh", "lagged", ...; backend: "poll: why"; create/remove:
  // "moved_in"/"moved_out" (an entry moved into or out of the tree). A change the engine
  // inferred rather than read from a kernel record says which inference: "stamps" (a modify
  // seen in an entry's size or mtime: its write went unreported, or came before the watch
  // could tell) and "hard_link" (the change, reported under another name of the same inode).
  std::string reason;
  // The entry's identity and stamps, when the model has a stat for it: after the change for
  // create/modify/close_write/attrib/rename/exists, as last known for a delete. Empty for
  // entries listed but not yet stat'ed, and for rescan, backend and unmount records.
  std::optional<EntryStat> stat;
};

}  // namespace lookout
