// What a FAN_RENAME record means for the model, and which Events it yields.
//
// Records cannot always be applied one by one. The kernel merges a record into an identical
// one still queued (fanotify_merge(): same directories, names, pid and type), and the merged
// record keeps the first one's place. So a -> b, b -> a, a -> b, b -> a can read as
// a -> b, b -> a, a -> b: applied blindly, the object ends at b while it is at a, and no
// later record corrects it. Two rules keep the consumer right:
//  - a rename whose object is, right now, back at its source and not at its destination is
//    undone (whatever the records say): not applied, and the records that carry it on from
//    there are followed (undone_) until one brings it home;
//  - while the crawl is under way, renames in directories the model has not listed are
//    reported from their records, and the consumer is told where each object went by its
//    handle (told_), so a record that merging left out of step is reported from where
//    the consumer has the object, or not at all.
#include "core/fanotify_translator.h"

#include <fcntl.h>
#include <sys/fanotify.h>

namespace lookout::core {

namespace {
// Objects renamed during the crawl that lookout follows (see tell()): ~100 bytes each.
constexpr std::size_t kMaxTold = 65536;
}  // namespace

void FanotifyTranslator::renamed(const backend::FanEvent& ev) {
  Place from = locate(ev.dir_key);
  Place to = locate(ev.to_dir_key);
  // A subdirectory of a non-recursive root is located (its own records are the root's
  // entries' changes), but what it holds is not watched: renames there are outside.
  if (from.dir != kNoNode && !engine_.listable(from.dir)) from.known = false;
  if (to.dir != kNoNode && !engine_.listable(to.dir)) to.known = false;
  bool is_dir = ev.mask & FAN_ONDIR;
  std::string from_path = from.known ? child_path(from.path, ev.name) : std::string{};
  std::string to_path = to.known ? child_path(to.path, ev.to_name) : std::string{};
  bool from_in = from.known && root_for(from_path) != kNoNode && !engine_.excluded(from_path);
  bool to_in = to.known && root_for(to_path) != kNoNode && !engine_.excluded(to_path);
  if (!from_in && !to_in) return;
  if (!from_in || !to_in) {
    // Out of the tree and in again is a delete and a create: nothing told of it stands.
    if (!ev.target_key.empty()) told_.erase(ev.target_key);
    if (!to_in) {
      deleted(from, ev.name, is_dir, "moved_out");
    } else {
      created(to, ev.to_name, is_dir, "moved_in", ev.target_key);
    }
    return;
  }
  NodeId id = from.dir != kNoNode ? model_.find(from.dir, ev.name) : kNoNode;
  if (id != kNoNode && to.dir != kNoNode) {
    rename_in_model(ev, id, from, to);
    return;
  }
  if (id == kNoNode && from.dir != kNoNode && to.dir != kNoNode) {
    auto v = undone_.find(Name{from.dir, ev.name});
    // The handle tells a later object at that name from the one followed.
    if (v != undone_.end() &&
        (v->second.key.empty() || ev.target_key.empty() || v->second.key == ev.target_key)) {
      Home home = v->second;
      undone_.erase(v);
      if (!(home.name == Name{to.dir, ev.to_name})) undone_[Name{to.dir, ev.to_name}] = home;
      return;
    }
  }
  const bool told = !ev.target_key.empty() && told_.count(ev.target_key) != 0;
  if ((!model_partial() || in_step(from.dir)) && !told) {
    // The model has the source directory's entries as the consumer does: a name it does not
    // hold was never reported.
    NodeId there = to.dir != kNoNode ? model_.find(to.dir, ev.to_name) : kNoNode;
    sys::FileStat now_to;
    if (there != kNoNode && fs_.stat_at(AT_FDCWD, to_path.c_str(), now_to) == 0 &&
        same_object(there, now_to)) {
      // And the object is where the model (and so the consumer) has it already: the record
      // describes a change the model holds (a listing made after it), or one a merged record
      // undid.
      return;
    }
    // Otherwise (a moved-in directory's catch-up listed it after it left), like inotify's
    // moved(): a create at the destination, with its contents.
    created(to, ev.to_name, is_dir, "moved_in", ev.target_key);
    return;
  }
  rename_unlisted(ev, id, from, to);
}

void FanotifyTranslator::rename_in_model(const backend::FanEvent& ev, NodeId id, const Place& from,
                                         const Place& to) {
  const std::string from_path = child_path(from.path, ev.name);
  const std::string to_path = child_path(to.path, ev.to_name);
  // Where the consumer has it: where it was told, if the crawl's renames told it elsewhere.
  std::string was = told_path(ev.target_key);
  if (was.empty()) was = from_path;
  if (rename_undone(ev, id, from_path, to_path)) {
    if (undone_.size() > 4096) undone_.clear();  // merged-away halves never come
    undone_[Name{to.dir, ev.to_name}] = Home{Name{from.dir, ev.name}, ev.target_key};
    if (was != from_path) {
      engine_.emit_path(EventKind::rename, from_path, was, model_.node(id).is_dir(),
                        root_for(from_path));
    }
    tell(ev.target_key, Spot{ev.dir_key, ev.name});
    return;
  }
  const sys::FileStat before = model_.stat(id);
  const bool had_stat = model_.stat_known(id);
  if (!model_.move(id, to.dir, ev.to_name)) {
    engine_.schedule_rescan("inconsistent");  // only a stale model asks for a cycle
    return;
  }
  engine_.restat(id);  // the rename carries the stamps the file has now, not stale ones
  if (was != to_path) {
    engine_.emit(EventKind::rename, id, was);
    if (engine_.watched_self(id)) engine_.emit(EventKind::move_self, id);  // as inotify's MOVE_SELF
  }
  engine_.check_arrived(id, before, had_stat);
  tell(ev.target_key, Spot{ev.to_dir_key, ev.to_name});
  // Directories inside it that could not be listed because of this very rename (moved in
  // and on before their record was read): now, in event order, not after the batch, or what
  // they hold would be reported after later events.
  if (model_.node(id).is_dir() && engine_.any_blind()) engine_.retry_blind(id);
}

void FanotifyTranslator::rename_unlisted(const backend::FanEvent& ev, NodeId id, const Place& from,
                                         const Place& to) {
  const bool is_dir = ev.mask & FAN_ONDIR;
  const std::string from_path = child_path(from.path, ev.name);
  const std::string to_path = child_path(to.path, ev.to_name);
  const std::string& object = ev.target_key;
  const bool undone = rename_undone(ev, id, from_path, to_path);
  // The consumer has the source directory as it was at ready plus what was reported: the
  // object is at the record's source, unless it was told otherwise.
  Spot now = undone ? Spot{ev.dir_key, ev.name} : Spot{ev.to_dir_key, ev.to_name};
  std::string was = from_path;
  bool report = !undone;
  if (auto told = object.empty() ? told_.end() : told_.find(object); told != told_.end()) {
    report = !(told->second == now);
    if (std::string p = told_path(object); !p.empty()) was = p;
  }
  if (report) {
    const std::string& path = undone ? from_path : to_path;
    engine_.emit_path(EventKind::rename, path, was, is_dir, root_for(path));
  }
  tell(object, std::move(now));
  // The model follows the object where it has the directories, as it is now.
  NodeId there = to.dir != kNoNode ? model_.find(to.dir, ev.to_name) : kNoNode;
  sys::FileStat now_to;
  const bool to_exists = fs_.stat_at(AT_FDCWD, to_path.c_str(), now_to) == 0;
  if (undone) {
    // A listing may have met it at its destination on the way there and back.
    if (there == kNoNode || (to_exists && same_object(there, now_to))) return;
    sys::FileStat now_from;
    if (id == kNoNode && from.dir != kNoNode &&
        fs_.stat_at(AT_FDCWD, from_path.c_str(), now_from) == 0 && same_object(there, now_from) &&
        model_.move(there, from.dir, ev.name)) {
      return;
    }
    model_.remove(there);
    return;
  }
  if (id != kNoNode) model_.remove(id);
  if (to.dir == kNoNode || !to_exists) return;
  if (there != kNoNode && !same_object(there, now_to)) model_.remove(there);  // replaced
  if (model_.find(to.dir, ev.to_name) != kNoNode) return;
  NodeId added = model_.add(to.dir, ev.to_name, now_to, true);
  if (now_to.type == sys::FileType::dir) {
    if (!object.empty()) map_key(added, object);
    engine_.catch_up(added, false);
  }
}

void FanotifyTranslator::tell(const std::string& object, Spot spot) {
  // Only the crawl's time needs this: records are read in step with the model after it.
  if (object.empty() || !model_partial()) return;
  if (told_.size() >= kMaxTold && !told_.count(object)) {
    // Past the bound, lookout can no longer say where the consumer has everything: a
    // rescan's diff tells it instead.
    told_.clear();
    engine_.schedule_rescan("overflow");
  }
  told_[object] = std::move(spot);
}

std::string FanotifyTranslator::told_path(const std::string& object) {
  if (object.empty()) return {};
  auto told = told_.find(object);
  if (told == told_.end()) return {};
  Place at = locate(told->second.dir_key);
  return at.known ? child_path(at.path, told->second.name) : std::string{};
}

bool FanotifyTranslator::rename_undone(const backend::FanEvent& ev, NodeId id,
                                       const std::string& from_path,
                                       const std::string& to_path) const {
  if (!ev.target_key.empty()) {
    // By handle, wherever the two directories are now (their paths may lag queued renames).
    return group_->key_in(ev.dir_key, ev.name) == ev.target_key &&
           group_->key_in(ev.to_dir_key, ev.to_name) != ev.target_key;
  }
  if (id == kNoNode) return false;  // no way to tell the object from another one
  sys::FileStat now_from, now_to;
  if (fs_.stat_at(AT_FDCWD, to_path.c_str(), now_to) == 0 && same_object(id, now_to)) return false;
  return fs_.stat_at(AT_FDCWD, from_path.c_str(), now_from) == 0 && same_object(id, now_from);
}

}  // namespace lookout::core
