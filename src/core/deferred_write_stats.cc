// Deferred stats of written files (WatchOptions::stat_writes off). A write record normally
// re-reads the file's stat, for the event and for the model's stamps. A consumer that reads
// the file itself (`tail`) needs neither at once, and a file appended a line at a time is in
// nearly every kernel read: one statx (2-3 us here) per file per read was half of tail's CPU
// over 1000 busy files. Here the write leaves the stamps stale, marked in writes_told_stale
// (the consumer was told of the write: a rename's check_arrived and an attrib record then
// report no second `modify` for it), and the stamps are read again a second later.
//
// Why no write is lost: a stat taken at any time shows only writes whose records are
// already queued, so the stamps it gives never hide a write whose record is still to come.
// An overflow's rescan finds stale stamps different and reports `modify`: at worst once too
// often, never too few. Hard-linked files are statted at once (their echo to the other names
// compares stamps), and so is everything when a state file or checksums need fresh stamps.
#include "core/watcher_impl.h"

namespace lookout {

using core::NodeId;

bool Watcher::Impl::defer_write_stat(NodeId id, const sys::FileStat& had, bool had_stat) {
  if (!defer_write_stats || !had_stat || had.type != sys::FileType::file || had.nlink >= 2) return false;
  if (writes_told_stale.count(id)) return true;  // stale already, its restat is due
  if (writes_told_stale.size() >= kMaxDeferredWriteStats) return false;
  writes_told_stale.insert(id);
  deferred_write_stats.push_back(DeferredWriteStat{id, now_ms() + kWriteStatDelayMs});
  return true;
}

void Watcher::Impl::restat_deferred_writes() {
  const std::int64_t now = now_ms();
  while (!deferred_write_stats.empty() && deferred_write_stats.front().due_ms <= now) {
    const NodeId id = deferred_write_stats.front().id;
    deferred_write_stats.pop_front();
    // Renamed meanwhile (check_arrived took its stat) or removed (the id may name another
    // node by now): nothing is stale.
    if (!writes_told_stale.count(id) || !model.valid(id)) continue;
    // A path that does not resolve (an ancestor's rename still queued) leaves it stale, as
    // a failed restat of a write record does: the rename's own restat settles it.
    if (restat(id)) writes_told_stale.erase(id);
  }
}

}  // namespace lookout
