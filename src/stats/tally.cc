#include "stats/tally.h"

#include <algorithm>

namespace lookout::stats {

const std::array<const char*, kColumns> kColumnNames = {
    "access", "modify",    "attrib", "close_write", "close_nowrite", "open",   "moved_from",
    "moved_to", "move_self", "create", "delete",      "delete_self",   "unmount"};

namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Tally::Tally(TallyOptions options) : opt_(std::move(options)) {}

bool Tally::is_root(const std::string& path) const {
  return std::find(opt_.roots.begin(), opt_.roots.end(), path) != opt_.roots.end();
}

std::string Tally::dir_row(const std::string& dir) const { return dir == "/" ? dir : dir + "/"; }

std::string Tally::holder_row(const std::string& path, bool is_dir) const {
  if (opt_.per_file) return path;
  // A root's own events come from its own watch: a directory's row, or a file root's.
  if (is_root(path)) return is_dir ? dir_row(path) : path;
  return dir_row(parent_of(path));
}

std::vector<std::pair<std::string, std::string>> Tally::backends() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& root : opt_.roots) {
    const bool said = std::any_of(backends_.begin(), backends_.end(), [&](const auto& b) {
      return b.first == root || starts_with(root, b.first == "/" ? b.first : b.first + "/");
    });
    if (!said) out.emplace_back(root, "inotify: default");
  }
  out.insert(out.end(), backends_.begin(), backends_.end());
  return out;
}

void Tally::add_row(const std::string& key) { rows_.try_emplace(key); }

void Tally::hit(const std::string& row, Column c) {
  if (!(opt_.columns & column_bit(c))) return;
  Row& r = rows_[row];
  ++r.hits[static_cast<std::size_t>(c)];
  ++r.total;
  ++column_totals_[static_cast<std::size_t>(c)];
  ++total_;
}

void Tally::move_rows(const std::string& from, const std::string& to, bool is_dir) {
  // The rows at and under `from` become `to`'s, merged with any already there.
  const std::string from_key = is_dir ? dir_row(from) : from;
  const std::string to_key = is_dir ? dir_row(to) : to;
  std::vector<std::pair<std::string, Row>> moved;
  for (auto it = rows_.lower_bound(from_key); it != rows_.end() && starts_with(it->first, from_key);) {
    if (!is_dir && it->first != from_key) break;
    moved.emplace_back(to_key + it->first.substr(from_key.size()), it->second);
    it = rows_.erase(it);
  }
  for (auto& [key, row] : moved) {
    Row& into = rows_[key];
    for (std::size_t i = 0; i < kColumns; ++i) into.hits[i] += row.hits[i];
    into.total += row.total;
  }
}

void Tally::count(const Event& e) {
  // inotifywatch counts kernel records: not what the engine inferred from stamps, nor a
  // change echoed to a hard link's other names (inotify reports the name used only).
  if (e.reason == "stamps" || e.reason == "hard_link") return;
  // Entries that came or went inside a directory moved in or out: inotify sent one
  // MOVED_TO or MOVED_FROM, for the directory.
  if (e.reason == "with_parent") return;
  switch (e.kind) {
    case EventKind::create:
      // An entry moved in from outside the tree is inotify's MOVED_TO.
      hit(holder_row(e.path, e.is_dir), e.reason == "moved_in" ? Column::moved_to : Column::create);
      return;
    case EventKind::remove:
      hit(holder_row(e.path, e.is_dir), e.reason == "moved_out" ? Column::moved_from : Column::remove);
      return;
    case EventKind::rename:
      hit(holder_row(e.from, e.is_dir), Column::moved_from);
      move_rows(e.from, e.path, e.is_dir);
      hit(holder_row(e.path, e.is_dir), Column::moved_to);
      return;
    case EventKind::modify:
    case EventKind::close_write:
    case EventKind::attrib:
    case EventKind::open:
    case EventKind::access:
    case EventKind::close_nowrite: {
      static constexpr std::pair<EventKind, Column> kMap[] = {
          {EventKind::modify, Column::modify},   {EventKind::close_write, Column::close_write},
          {EventKind::attrib, Column::attrib},   {EventKind::open, Column::open},
          {EventKind::access, Column::access},   {EventKind::close_nowrite, Column::close_nowrite}};
      Column c = Column::modify;
      for (auto [k, col] : kMap) {
        if (k == e.kind) c = col;
      }
      hit(holder_row(e.path, e.is_dir), c);
      // inotify reports a directory's own change on its own watch too.
      if (e.is_dir && !opt_.per_file && !is_root(e.path)) hit(dir_row(e.path), c);
      return;
    }
    case EventKind::move_self:
      hit(opt_.per_file || !e.is_dir ? e.path : dir_row(e.path), Column::move_self);
      return;
    case EventKind::delete_self:
      hit(opt_.per_file || !e.is_dir ? e.path : dir_row(e.path), Column::delete_self);
      return;
    case EventKind::unmount:
      hit(opt_.per_file ? e.path : dir_row(e.path), Column::unmount);
      return;
    case EventKind::rescan:
      ++rescans_[e.reason.empty() ? "rescan" : e.reason];
      return;
    case EventKind::backend:
      backends_.emplace_back(e.path, e.reason);
      return;
    case EventKind::exists:
      if (e.is_dir && !opt_.per_file) add_row(dir_row(e.path));
      if (opt_.per_file) add_row(e.path);
      return;
  }
}

}  // namespace lookout::stats
