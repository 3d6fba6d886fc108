// Seeded randomized stress through the real binary: `lookout watch -m -r --json ROOT` while
// the test hammers ROOT with creates, appends, truncates, renames (files over files, deep
// directories, directories over empty directories), mkdir -p chains, moves out of the tree
// and back in, rm -rf and unlinks at full speed. Then a cookie file; the JSON events applied
// in order to the starting snapshot must give exactly the tree on disk. Hard links (inside
// the tree, and to names outside it) are made too, and every 300 operations a cookie sync
// checks contents: each file the consumer was not told changed must hold what it held at the
// last check (a write through one name of a hard-linked file changes every name). Rows run
// without -r (only the root's entries count) and on one watched file too.
//
// LOOKOUT_STRESS_SEED=N runs that seed only (else 3 seeds from the clock);
// LOOKOUT_STRESS_OPS=N changes the number of operations per run (default 3000).
// On failure the seed, the differences, the operations and the events are printed/saved.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "e2e/lookout_process.h"
#include "support/fanotify_skip.h"
#include "support/test_dirs.h"
#include "support/test_labels.h"

namespace lookout::e2e {
namespace {

constexpr int kMaxDepth = 14;

std::vector<std::uint64_t> stress_seeds(int default_count) {
  if (const char* s = std::getenv("LOOKOUT_STRESS_SEED"); s && *s) return {std::strtoull(s, nullptr, 10)};
  auto base = static_cast<std::uint64_t>(
      std::chrono::system_clock::now().time_since_epoch() / std::chrono::microseconds(1));
  std::vector<std::uint64_t> seeds;
  for (int i = 0; i < default_count; ++i) seeds.push_back((base + static_cast<std::uint64_t>(i) * 7919) % 1000000007);
  return seeds;
}

int stress_ops() {
  if (const char* s = std::getenv("LOOKOUT_STRESS_OPS"); s && *s) return std::atoi(s);
  return 3000;
}

int depth_of(const std::string& rel) {
  return rel.empty() ? 0 : 1 + static_cast<int>(std::count(rel.begin(), rel.end(), '/'));
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool under(const std::string& p, const std::string& dir) {  // p strictly inside dir
  return dir.empty() ? !p.empty() : p.size() > dir.size() && p.compare(0, dir.size() + 1, dir + "/") == 0;
}

// Removes a tree on disk bottom-up (what rm -rf does).
bool remove_tree(const std::string& abs) {
  struct stat st;
  if (::lstat(abs.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) return ::unlink(abs.c_str()) == 0;
  std::vector<std::string> names;
  if (DIR* d = ::opendir(abs.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  bool ok = true;
  for (auto& n : names) ok = remove_tree(abs + "/" + n) && ok;
  return ::rmdir(abs.c_str()) == 0 && ok;
}

// Generates and performs random operations, keeping its own view of the tree (only to pick
// targets; the final truth is a walk of the disk).
class Mutator {
 public:
  Mutator(std::uint64_t seed, std::string root, std::string outside)
      : rng_(seed), root_(std::move(root)), outside_(std::move(outside)) {
    dirs_.insert("");
  }

  void build_initial() {
    for (int i = 0; i < 4; ++i) {
      std::string d = "d" + std::to_string(i);
      do_mkdir(d);
      for (int j = 0; j < 3; ++j) do_create(join(d, "f" + std::to_string(j)));
      if (i % 2 == 0) {
        do_mkdir(join(d, "sub"));
        do_create(join(d, "sub/deep"));
      }
    }
    do_create("top.txt");
    log_.clear();
  }

  void step() {
    std::size_t size = dirs_.size() + files_.size();
    bool big = size > 350;
    // weights: create, append, truncate, rename file, rename dir, mkdir -p, move out, move in,
    //          rm -rf, unlink, chmod, hard link inside, hard link to outside, link in from outside
    std::vector<int> w = {18, 12, 5, 14, 8, 7, 3, 4, 3, 9, 3, 4, 2, 2};
    if (big) {
      w[0] = 4;
      w[5] = 1;
      w[8] = 12;
      w[9] = 25;
    }
    std::discrete_distribution<int> pick(w.begin(), w.end());
    switch (pick(rng_)) {
      case 0: op_create(); break;
      case 1: op_append(); break;
      case 2: op_truncate(); break;
      case 3: op_rename_file(); break;
      case 4: op_rename_dir(); break;
      case 5: op_mkdir_chain(); break;
      case 6: op_move_out(); break;
      case 7: op_move_in(); break;
      case 8: op_rm_rf(); break;
      case 9: op_unlink(); break;
      case 10: op_chmod(); break;
      case 11: op_link_inside(); break;
      case 12: op_link_outside(); break;
      case 13: op_link_in(); break;
    }
  }

  TreeSnapshot expected() const {
    TreeSnapshot t;
    for (auto& d : dirs_) {
      if (!d.empty()) t[d] = true;
    }
    for (auto& f : files_) t[f] = false;
    return t;
  }

  const std::vector<std::string>& log() const { return log_; }
  // A line in the ops log that is no operation (e.g. where a content check ran).
  void note(const std::string& line) { log_.push_back("-- " + line); }
  std::size_t failures() const { return failures_; }

  // Inodes written since the last call only through names that were made and removed
  // since then too. Such a name may be gone before the watcher gets to stat it, and inotify
  // events carry no inode: nothing ties that write to the file's other names, which change
  // unreported (docs/kernel-facts.md#inotify-events-carry-no-inode). Starts a new window.
  std::set<ino_t> take_writes_through_vanished_names() {
    std::set<ino_t> out;
    for (auto& [ino, n] : writes_) {
      auto it = vanished_writes_.find(ino);
      if (it != vanished_writes_.end() && it->second == n) out.insert(ino);
    }
    born_.clear();
    writes_.clear();
    vanished_writes_.clear();
    writes_by_name_.clear();
    return out;
  }
  // Inodes written since the last call through a name below the root's entries (depth > 1).
  // Without -r no watch sees such a write, and the name may be gone by the next check (a
  // directory moved or removed), so its other names' change is unknowable then too.
  std::set<ino_t> take_writes_below_root_entries() { return std::exchange(deep_writes_, {}); }

 private:
  std::string abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  // Counts a write through `rel`; returns " (ino N)" for the ops log, so that writes
  // through one of several names show under the inode a "changed without an event" names.
  std::string note_write(const std::string& rel) {
    struct stat st {};
    if (::lstat(abs(rel).c_str(), &st) != 0) return "";
    ++writes_[st.st_ino];
    if (depth_of(rel) > 1) deep_writes_.insert(st.st_ino);
    if (born_.count(rel)) writes_by_name_[rel].push_back(st.st_ino);
    return " (ino " + std::to_string(st.st_ino) + ")";
  }
  // `rel` (or every name under it) leaves the tree.
  void note_gone(const std::string& rel) {
    for (auto it = writes_by_name_.begin(); it != writes_by_name_.end();) {
      if (it->first == rel || under(it->first, rel)) {
        for (ino_t ino : it->second) ++vanished_writes_[ino];
        it = writes_by_name_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::string new_name(char kind) {
    ++counter_;
    switch (rng_() % 8) {
      case 0: return std::string(1, kind) + " sp " + std::to_string(counter_);  // spaces
      case 1: return "\xc3\xa9t\xc3\xa9-" + std::string(1, kind) + std::to_string(counter_);  // UTF-8
      default: return std::string(1, kind) + std::to_string(counter_);
    }
  }

  template <typename Set>
  std::optional<std::string> random_of(const Set& s, const std::function<bool(const std::string&)>& ok = {}) {
    if (s.empty()) return std::nullopt;
    for (int tries = 0; tries < 8; ++tries) {
      auto it = s.begin();
      std::advance(it, static_cast<long>(rng_() % s.size()));
      if (!ok || ok(*it)) return *it;
    }
    return std::nullopt;
  }

  std::optional<std::string> random_dir(bool allow_root = true) {
    return random_of(dirs_, [&](const std::string& d) { return (allow_root || !d.empty()) && depth_of(d) < kMaxDepth; });
  }

  void fail(const std::string& what) {
    ++failures_;
    log_.push_back("!! FAILED: " + what + ": " + errno_text(errno));
  }

  bool write_to(const std::string& rel, int flags, const std::string& data) {
    int fd = ::open(abs(rel).c_str(), O_WRONLY | O_CLOEXEC | flags, 0644);
    if (fd < 0) return false;
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
  }

  void do_mkdir(const std::string& rel) {
    log_.push_back("mkdir " + rel);
    if (::mkdir(abs(rel).c_str(), 0755) != 0) return fail("mkdir " + rel);
    dirs_.insert(rel);
  }

  void do_create(const std::string& rel) {
    log_.push_back("create " + rel);
    if (!write_to(rel, O_CREAT | O_TRUNC, "x" + std::to_string(counter_))) return fail("create " + rel);
    files_.insert(rel);
    born_.insert(rel);
  }

  void op_create() {
    auto d = random_dir();
    if (!d) return;
    do_create(join(*d, new_name('f')));
  }

  void op_append() {
    auto f = random_of(files_);
    if (!f) return op_create();
    log_.push_back("append " + *f + note_write(*f));
    if (!write_to(*f, O_APPEND, std::string(1 + rng_() % 64, 'a'))) fail("append " + *f);
  }

  void op_truncate() {
    auto f = random_of(files_);
    if (!f) return op_create();
    log_.push_back("truncate " + *f + note_write(*f));
    if (::truncate(abs(*f).c_str(), 0) != 0) fail("truncate " + *f);
  }

  void op_chmod() {
    auto f = random_of(files_);
    if (!f) return;
    log_.push_back("chmod " + *f);
    if (::chmod(abs(*f).c_str(), (rng_() & 1) ? 0600 : 0644) != 0) fail("chmod " + *f);
  }

  // Another name for a file, somewhere in the tree: writes through either change both.
  void op_link_inside() {
    auto f = random_of(files_);
    auto d = random_dir();
    if (!f || !d) return op_create();
    std::string to = join(*d, new_name('h'));
    log_.push_back("link " + *f + " -> " + to);
    if (::link(abs(*f).c_str(), abs(to).c_str()) != 0) return fail("link " + *f);
    files_.insert(to);
    born_.insert(to);
  }

  // A name outside the tree for a file inside (the tree's watches never see that name).
  void op_link_outside() {
    auto f = random_of(files_);
    if (!f) return;
    std::string to = outside_ + "/l" + std::to_string(++counter_);
    log_.push_back("link " + *f + " -> outside " + to);
    if (::link(abs(*f).c_str(), to.c_str()) != 0) return fail("link out " + *f);
    outside_links_.push_back(to);
  }

  // An outside name linked into the tree: a create of a file that already has content.
  void op_link_in() {
    if (outside_links_.empty()) return op_link_outside();
    auto d = random_dir();
    if (!d) return;
    std::string from = outside_links_[rng_() % outside_links_.size()];
    std::string to = join(*d, new_name('L'));
    log_.push_back("link outside " + from + " -> " + to);
    if (::link(from.c_str(), abs(to).c_str()) != 0) return fail("link in " + from);
    files_.insert(to);
    born_.insert(to);
  }

  void op_unlink() {
    auto f = random_of(files_);
    if (!f) return;
    log_.push_back("unlink " + *f);
    if (::unlink(abs(*f).c_str()) != 0) return fail("unlink " + *f);
    files_.erase(*f);
    note_gone(*f);
  }

  void op_rename_file() {
    auto f = random_of(files_);
    if (!f) return op_create();
    std::string to;
    if (rng_() % 3 == 0 && files_.size() > 1) {
      auto t = random_of(files_, [&](const std::string& x) { return x != *f; });
      if (!t) return;
      to = *t;  // over an existing file
    } else {
      auto d = random_dir();
      if (!d) return;
      to = join(*d, new_name('r'));
    }
    // rename(2) does nothing when both names are links to one inode.
    struct stat a {}, b {};
    if (::lstat(abs(*f).c_str(), &a) == 0 && ::lstat(abs(to).c_str(), &b) == 0 && a.st_ino == b.st_ino) return;
    log_.push_back("rename " + *f + " -> " + to);
    if (::rename(abs(*f).c_str(), abs(to).c_str()) != 0) return fail("rename " + *f);
    note_gone(to);  // a name renamed over leaves its old inode
    if (born_.erase(*f)) born_.insert(to);
    if (auto w = writes_by_name_.extract(*f)) {
      w.key() = to;
      writes_by_name_.insert(std::move(w));
    }
    files_.erase(*f);
    files_.insert(to);
  }

  int subtree_height(const std::string& d) const {
    int h = 0;
    std::string prefix = d + "/";
    for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      h = std::max(h, depth_of(*it) - depth_of(d));
    }
    return h + 1;
  }

  bool dir_empty(const std::string& d) const {
    std::string prefix = d + "/";
    auto a = dirs_.lower_bound(prefix);
    auto b = files_.lower_bound(prefix);
    return (a == dirs_.end() || a->compare(0, prefix.size(), prefix) != 0) &&
           (b == files_.end() || b->compare(0, prefix.size(), prefix) != 0);
  }

  // Moves the bookkeeping of `from` (and everything under it) to `to`.
  void move_entries(const std::string& from, const std::string& to) {
    std::string prefix = from + "/";
    std::vector<std::string> ds, fs;
    for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
      ds.push_back(to + "/" + it->substr(prefix.size()));
      it = dirs_.erase(it);
    }
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->compare(0, prefix.size(), prefix) == 0;) {
      fs.push_back(to + "/" + it->substr(prefix.size()));
      it = files_.erase(it);
    }
    dirs_.erase(from);
    if (!to.empty()) {
      dirs_.insert(to);
      dirs_.insert(ds.begin(), ds.end());
      files_.insert(fs.begin(), fs.end());
    }
    // The names made since the last check, and the writes through them, follow the move:
    // a write through a name whose directory was renamed is still a write through a new name.
    std::set<std::string> born;
    for (auto& b : born_) {
      if (!under(b, from)) born.insert(b);
      else if (!to.empty()) born.insert(to + b.substr(from.size()));
    }
    born_ = std::move(born);
    std::map<std::string, std::vector<ino_t>> writes;
    for (auto& [name, inos] : writes_by_name_) {
      if (!under(name, from)) writes[name] = inos;
      else if (!to.empty()) writes[to + name.substr(from.size())] = inos;
    }
    writes_by_name_ = std::move(writes);
  }

  void op_rename_dir() {
    auto s = random_dir(false);
    if (!s) return op_mkdir_chain();
    int h = subtree_height(*s);
    std::string to;
    if (rng_() % 5 == 0) {
      // over an existing empty directory
      auto e = random_of(dirs_, [&](const std::string& x) {
        return !x.empty() && x != *s && !under(x, *s) && !under(*s, x) && dir_empty(x) &&
               depth_of(x) - 1 + h <= kMaxDepth;
      });
      if (!e) return;
      to = *e;
    } else {
      auto d = random_of(dirs_, [&](const std::string& x) {
        return x != *s && !under(x, *s) && depth_of(x) + h <= kMaxDepth;
      });
      if (!d) return;
      to = join(*d, new_name('D'));
    }
    log_.push_back("rename dir " + *s + " -> " + to);
    if (::rename(abs(*s).c_str(), abs(to).c_str()) != 0) return fail("rename dir " + *s);
    dirs_.erase(to);
    move_entries(*s, to);
  }

  void op_mkdir_chain() {
    auto base = random_dir();
    if (!base) return;
    int n = 1 + static_cast<int>(rng_() % 5);
    std::string p = *base;
    std::string desc = "mkdir -p";
    for (int i = 0; i < n && depth_of(p) < kMaxDepth; ++i) {
      p = join(p, new_name('m'));
      if (::mkdir(abs(p).c_str(), 0755) != 0) {
        log_.push_back(desc);
        return fail("mkdir " + p);
      }
      dirs_.insert(p);
      desc += " " + p;
    }
    log_.push_back(desc);
    if (!p.empty()) do_create(join(p, "bottom" + std::to_string(counter_)));
  }

  void op_move_out() {
    auto s = random_dir(false);
    if (!s) return;
    std::string dst = outside_ + "/o" + std::to_string(++counter_);
    log_.push_back("move out " + *s + " -> " + dst);
    if (::rename(abs(*s).c_str(), dst.c_str()) != 0) return fail("move out " + *s);
    note_gone(*s);
    move_entries(*s, "");
    out_dirs_.push_back(dst);
  }

  void op_move_in() {
    if (out_dirs_.empty()) return op_move_out();
    std::size_t i = rng_() % out_dirs_.size();
    std::string src = out_dirs_[i];
    // Changed while away, sometimes.
    if (rng_() % 2 == 0) {
      std::string f = src + "/while_away" + std::to_string(++counter_);
      log_.push_back("create outside " + f);
      int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
    }
    TreeSnapshot inside = snapshot_tree(src);
    int h = 1;
    for (auto& [p, d] : inside) h = std::max(h, 1 + depth_of(p));
    auto d = random_of(dirs_, [&](const std::string& x) { return depth_of(x) + h <= kMaxDepth; });
    if (!d) return;
    std::string to = join(*d, new_name('I'));
    log_.push_back("move in " + src + " -> " + to);
    if (::rename(src.c_str(), abs(to).c_str()) != 0) return fail("move in " + src);
    out_dirs_.erase(out_dirs_.begin() + static_cast<long>(i));
    dirs_.insert(to);
    for (auto& [p, isdir] : inside) (isdir ? dirs_ : files_).insert(to + "/" + p);
  }

  void op_rm_rf() {
    auto s = random_dir(false);
    if (!s) return;
    log_.push_back("rm -rf " + *s);
    if (!remove_tree(abs(*s))) return fail("rm -rf " + *s);
    note_gone(*s);
    move_entries(*s, "");
  }

  std::mt19937_64 rng_;
  // Since the last take_writes_through_vanished_names(): names made, writes per inode,
  // writes through made names by name, and how many of those went through names now gone.
  std::set<std::string> born_;
  std::map<ino_t, int> writes_;
  std::map<std::string, std::vector<ino_t>> writes_by_name_;
  std::map<ino_t, int> vanished_writes_;
  std::set<ino_t> deep_writes_;
  std::string root_, outside_;
  std::set<std::string> dirs_, files_;
  std::vector<std::string> out_dirs_;
  std::vector<std::string> outside_links_;
  std::uint64_t counter_ = 0;
  std::vector<std::string> log_;
  std::size_t failures_ = 0;
};

// What a consumer that re-reads a file when told it changed holds: the content read at the
// last check for every file it was not told about since. check() runs when the tree is still
// (after a cookie sync): files told about are read now; the others must not have changed.
class ContentView {
 public:
  // `max_depth`: 1 for a watch without -r (only the root's entries), else unlimited.
  ContentView(std::string root, int max_depth) : root_(std::move(root)), max_depth_(max_depth) {
    for (auto& [rel, dir] : snapshot_tree(root_)) {
      if (!dir && depth_of(rel) <= max_depth_) files_[rel] = Entry{read_small_file(root_ + "/" + rel).value_or(""), false};
    }
  }

  void apply_line(const std::string& line) {
    auto o = parse_json_line(line);
    if (!o) return;
    const std::string kind = (*o)["event"];
    std::string rel, from;
    if (!relative(json_path(*o, "path"), rel)) return;
    const bool is_dir = o->count("is_dir") && o->at("is_dir") == "true";
    if (kind == "create" || kind == "modify" || kind == "close_write") {
      if (!is_dir) files_[rel].told = true;
    } else if (kind == "delete") {
      erase(rel);
    } else if (kind == "rename" && relative(json_path(*o, "from"), from)) {
      std::map<std::string, Entry> moved;
      for (auto it = files_.begin(); it != files_.end();) {
        if (it->first == from || it->first.rfind(from + "/", 0) == 0) {
          moved[rel + it->first.substr(from.size())] = std::move(it->second);
          it = files_.erase(it);
        } else {
          ++it;
        }
      }
      erase(rel);  // a rename replaces what was there
      for (auto& [p, e] : moved) files_[p] = std::move(e);
    }
  }

  // Lists files whose content changed although no event said so. REQUIRES: a still tree.
  // `vanished`: inodes written only through names that came and went since the last check
  // (Mutator::take_writes_through_vanished_names): their other names are not checked.
  // `deep`: inodes written through names below the root's entries since the last check
  // (Mutator::take_writes_below_root_entries): without -r, unknowable as well.
  std::string check(const std::set<ino_t>& vanished = {}, const std::set<ino_t>& deep = {}) {
    std::string out;
    // Without -r the operations also write through names below the root's entries, which no
    // watch of the root sees: a file with such a name (more links than names in scope) may
    // change unreported, as through a name outside the tree.
    std::map<ino_t, nlink_t> names_in_scope;
    if (max_depth_ == 1) {
      for (auto& [rel, dir] : snapshot_tree(root_)) {
        struct stat st {};
        if (!dir && depth_of(rel) <= max_depth_ && ::lstat((root_ + "/" + rel).c_str(), &st) == 0) ++names_in_scope[st.st_ino];
      }
    }
    for (auto& [rel, dir] : snapshot_tree(root_)) {
      if (dir || depth_of(rel) > max_depth_ || rel.rfind(".cookie-", 0) == 0) continue;
      auto it = files_.find(rel);
      if (it == files_.end()) continue;  // never reported: the tree's own check says so
      std::string now = read_small_file(root_ + "/" + rel).value_or("");
      struct stat st {};
      const bool unseen_names = max_depth_ == 1 && ::lstat((root_ + "/" + rel).c_str(), &st) == 0 &&
                                st.st_nlink > names_in_scope[st.st_ino];
      struct stat ist {};
      const bool have_ino = ::lstat((root_ + "/" + rel).c_str(), &ist) == 0;
      const bool out_of_scope = have_ino && (vanished.count(ist.st_ino) || (max_depth_ == 1 && deep.count(ist.st_ino)));
      if (!it->second.told && it->second.content != now && !unseen_names && out_of_scope) {
        ++unknowable_;
      } else if (!it->second.told && it->second.content != now && !unseen_names) {
        const std::string ino = have_ino ? ", ino " + std::to_string(ist.st_ino) : "";
        out += "  changed without an event: " + printable(rel) + " (" + std::to_string(it->second.content.size()) +
               " -> " + std::to_string(now.size()) + " bytes" + ino + ")\n";
      }
      it->second = Entry{std::move(now), false};
    }
    return out;
  }

 private:
  struct Entry {
    std::string content;
    bool told = false;
  };
  int unknowable_ = 0;

 public:
  // Changes exempted because they came through vanished names only (see check()).
  int unknowable() const { return unknowable_; }

 private:
  bool relative(const std::string& abs, std::string& rel) const {
    if (abs.size() <= root_.size() + 1 || abs.compare(0, root_.size() + 1, root_ + "/") != 0) return false;
    rel = abs.substr(root_.size() + 1);
    return true;
  }
  void erase(const std::string& rel) {
    for (auto it = files_.begin(); it != files_.end();) {
      it = it->first == rel || it->first.rfind(rel + "/", 0) == 0 ? files_.erase(it) : std::next(it);
    }
  }
  std::string root_;
  int max_depth_;
  std::map<std::string, Entry> files_;
};

// The entries of `t` at most `max_depth` below the root.
TreeSnapshot at_most(const TreeSnapshot& t, int max_depth) {
  TreeSnapshot out;
  for (auto& [p, d] : t) {
    if (depth_of(p) <= max_depth) out[p] = d;
  }
  return out;
}

std::string save_artifacts(std::uint64_t seed, const std::vector<std::string>& ops, const std::string& events,
                           const std::string& stderr_text) {
  const char* base = std::getenv("LOOKOUT_TEST_TMP");
  std::string prefix = std::string(base ? base : "/tmp") + "/lookout-stress-" + std::to_string(seed);
  std::ofstream o(prefix + ".ops");
  for (auto& l : ops) o << l << "\n";
  std::ofstream(prefix + ".events", std::ios::binary) << events;
  std::ofstream(prefix + ".stderr", std::ios::binary) << stderr_text;
  return prefix + ".{ops,events,stderr}";
}

struct RunResult {
  std::size_t rescans = 0;
  std::size_t events = 0;
  int extra_cookies = 0;  // cookies needed beyond the first before the trees matched
};

// Which mechanism the run asks lookout for.
enum class Backend { auto_select, poll, fanotify };

const char* backend_name(Backend b) {
  return b == Backend::poll ? "poll" : b == Backend::fanotify ? "fanotify" : "auto";
}

// One seeded run. `overflow`: give lookout's kernel instance (inotify, or fanotify's group) a
// 64-event queue, and stop it (SIGSTOP) for 150 of every 400 operations so that the queue
// certainly overflows while the tree keeps changing.
// `recursive` false: lookout runs without -r, and only the root's own entries must add up.
RunResult run_stress(std::uint64_t seed, int ops, bool overflow, Backend backend = Backend::auto_select,
                     bool recursive = true) {
  RunResult result;
  std::cerr << "[ stress ] seed " << seed << " backend " << backend_name(backend)
            << (overflow ? " (forced overflow)" : "") << (recursive ? "" : " (no -r)") << " - rerun with LOOKOUT_STRESS_SEED=" << seed << "\n";
  SCOPED_TRACE("seed " + std::to_string(seed) + ", backend " + backend_name(backend) +
               " (rerun with LOOKOUT_STRESS_SEED=" + std::to_string(seed) + ")");
  lookout::testing::TempDir tmp;
  const std::string root = tmp / "root";
  const std::string outside = tmp / "outside";
  ::mkdir(root.c_str(), 0755);
  ::mkdir(outside.c_str(), 0755);
  Mutator mut(seed, root, outside);
  mut.build_initial();
  const int max_depth = recursive ? 1 << 20 : 1;
  const TreeSnapshot start = at_most(snapshot_tree(root), max_depth);
  ContentView contents(root, max_depth);
  std::string content_failures;

  std::unique_ptr<LookoutProcess> lkp;
  std::vector<std::string> args = {"watch", "-m", "--json", "-q", root};
  if (recursive) args.insert(args.begin() + 2, "-r");
  if (backend == Backend::poll) {
    // Short intervals: a pass every 20-100 ms, so a cookie is seen soon after it is made.
    args.insert(args.end(), {"--backend", "poll", "--poll-min", "0.02", "--poll-max", "0.1"});
  } else if (backend == Backend::fanotify) {
    args.insert(args.end(), {"--backend", "fanotify"});
  }
  if (overflow) {
    std::string error;
    lkp = start_with_small_queue(args, 64, error,
                                 backend == Backend::fanotify ? "/proc/sys/fs/fanotify/max_queued_events"
                                                              : "/proc/sys/fs/inotify/max_queued_events");
    if (!lkp) {
      ADD_FAILURE() << error;
      return result;
    }
  } else {
    lkp = std::make_unique<LookoutProcess>(args);
    auto ready = lkp->next_record('\n', milliseconds(20000));
    if (!ready || *ready != "{\"event\":\"ready\"}") {
      ADD_FAILURE() << "no ready line\n" << lkp->describe();
      return result;
    }
  }
  LookoutProcess& lk = *lkp;

  ConsumerTree consumer(root, start);
  // Pruned polling passes see an in-place write only at the next full pass (every 30 s by
  // default; README "Polling"), so polling rows check the tree's shape, not contents: the
  // PollBackend tests and the one-file row (--poll-full) cover what full passes see.
  auto check_contents = [&] {
    std::set<ino_t> vanished = mut.take_writes_through_vanished_names();
    std::set<ino_t> deep = mut.take_writes_below_root_entries();
    return backend == Backend::poll ? std::string() : contents.check(vanished, deep);
  };
  auto apply = [&](const std::string& rec) {
    consumer.apply_line(rec);
    contents.apply_line(rec);
  };
  auto apply_available = [&] {
    while (auto rec = lk.next_record('\n', milliseconds(0))) apply(*rec);
  };

  // Cookie sync: once the cookie's create is seen, everything before it has been reported.
  auto sync = [&](int n) {
    std::string cookie = root + "/.cookie-" + std::to_string(n);
    if (!write_small_file(cookie, "")) ADD_FAILURE() << "cannot write cookie " << cookie;
    auto end = Clock::now() + milliseconds(20000);
    while (Clock::now() < end) {
      auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now());
      auto rec = lk.next_record('\n', left);
      if (!rec) break;
      apply(*rec);
      auto o = parse_json_line(*rec);
      if (o && (*o)["event"] == "create" && json_path(*o, "path") == cookie) return true;
    }
    return false;
  };

  for (int i = 0; i < ops; ++i) {
    if (overflow && i % 400 == 0 && i + 200 < ops) lk.signal(SIGSTOP);  // the queue must overflow
    if (overflow && i % 400 == 150) lk.signal(SIGCONT);
    mut.step();
    if (i % 32 == 31) {
      lk.pump(0);  // keep the pipe drained so lookout never blocks on us
      apply_available();
    }
    // A still tree every 300 operations: what changed without an event shows now, before
    // later writes (which may be reported) hide it. Not with forced overflows, whose
    // rescans may come after the cookie (storm backoff); their final check below suffices.
    if (!overflow && i % 300 == 299) {
      bool ok = sync(1000 + i) && (backend != Backend::poll || sync(2000 + i));
      if (!ok) {
        ADD_FAILURE() << "cookie " << i << " never reported";
        break;
      }
      mut.note("still tree, contents checked after operation " + std::to_string(i + 1));
      std::string stale = check_contents();
      if (!stale.empty()) content_failures += "after operation " + std::to_string(i + 1) + ":\n" + stale;
    }
  }
  if (overflow) lk.signal(SIGCONT);
  EXPECT_EQ(mut.failures(), 0u) << "the test's own operations failed; see the ops log";

  bool synced = sync(0);
  // Polling: the pass that reported the cookie may have listed some directories before the
  // last operations. The next pass starts after it ended, so a second cookie covers them.
  if (synced && backend == Backend::poll) synced = sync(100);
  std::string hang_info = synced ? "" : lk.describe_threads();
  TreeSnapshot real = at_most(snapshot_tree(root), max_depth);
  std::string diff = diff_trees(real, consumer.tree());
  std::string first_diff = diff;
  // After an overflow the rescan can be delayed (storm backoff, up to 2 s) while later events,
  // the cookie's among them, keep coming: the cookie then arrives before the rescan's
  // differences. Keep syncing (a cookie per event batch) until the trees match or 15 s pass,
  // and report how many extra cookies that took.
  if (synced && !diff.empty() && consumer.rescans() > 0) {
    auto end = Clock::now() + milliseconds(15000);
    for (int n = 1; !diff.empty() && Clock::now() < end; ++n) {
      std::size_t before = consumer.rescans();
      // Wait for the pending rescan (or time out), then prove everything was seen.
      while (consumer.rescans() == before && Clock::now() < end) {
        auto rec = lk.next_record('\n', std::min(milliseconds(500), std::chrono::duration_cast<milliseconds>(end - Clock::now())));
        if (!rec) break;
        apply(*rec);
      }
      if (!sync(n)) break;
      ++result.extra_cookies;
      real = at_most(snapshot_tree(root), max_depth);
      diff = diff_trees(real, consumer.tree());
    }
  }
  if (synced) {
    std::string stale = check_contents();
    if (!stale.empty()) content_failures += "at the end:\n" + stale;
  }

  // SIGTERM: exit 0, everything flushed; whatever comes after the cookie still applies.
  lk.signal(SIGTERM);
  auto code = lk.wait_exit(milliseconds(10000));
  if (!code) ADD_FAILURE() << "lookout did not exit after SIGTERM; threads:\n" << lk.describe_threads();
  apply_available();
  EXPECT_EQ(code, std::optional<int>(0)) << lk.describe();
  EXPECT_TRUE(lk.out().empty() || lk.out().back() == '\n') << "output ends in a partial record";

  real = at_most(snapshot_tree(root), max_depth);
  std::string final_diff = diff_trees(real, consumer.tree());
  result.rescans = consumer.rescans();
  result.events = consumer.applied();

  std::string counts;
  for (auto& [k, n] : consumer.counts()) counts += k + "=" + std::to_string(n) + " ";
  std::cerr << "[ stress ] seed " << seed << ": " << ops << " ops, " << consumer.applied() << " events ("
            << counts << "), " << real.size() << " entries at the end"
            << (result.extra_cookies ? ", extra cookies needed: " + std::to_string(result.extra_cookies) : "")
            << (contents.unknowable() ? ", changes through vanished names (not checked): " + std::to_string(contents.unknowable()) : "")
            << "\n";

  bool failed = !synced || !final_diff.empty() || !diff.empty() || !consumer.anomalies().empty() ||
                !content_failures.empty() ||
                mut.failures() > 0 || ::testing::Test::HasFailure();
  std::string saved;
  if (failed) saved = save_artifacts(seed, mut.log(), lk.out(), lk.err());
  EXPECT_TRUE(synced) << "cookie never reported; seed " << seed << "\n"
                      << "threads when the cookie wait ended:\n" << hang_info << lk.describe();
  EXPECT_TRUE(final_diff.empty() && diff.empty())
      << "seed " << seed << ": the events do not add up to the tree on disk\n"
      << (first_diff.empty() ? "" : "after the first cookie:\n" + first_diff)
      << (diff.empty() ? "" : "after more cookies:\n" + diff)
      << (final_diff.empty() ? "" : "after exit:\n" + final_diff) << "rescans: " << consumer.rescans()
      << "\nanomalies:\n" << consumer.anomaly_report() << "ops and events saved to " << saved;
  if (backend != Backend::auto_select) {
    // One decision, for the root: no directory of this tree is a mount of its own.
    auto b = consumer.counts().find("backend");
    EXPECT_EQ(b == consumer.counts().end() ? 0u : b->second, 1u) << "backend records:\n" << lk.out().substr(0, 2000);
  }
  EXPECT_EQ(content_failures, "") << "seed " << seed << ": files whose content changed unreported\n"
                                  << "ops and events saved to " << saved;
  EXPECT_TRUE(consumer.anomalies().empty())
      << "seed " << seed << ": events that do not fit the consumer's tree:\n" << consumer.anomaly_report()
      << "ops and events saved to " << saved;
  TreeSnapshot real_without_cookies;
  for (auto& [p, d] : real) {
    if (p.rfind(".cookie-", 0) != 0) real_without_cookies[p] = d;
  }
  if (at_most(mut.expected(), max_depth) != real_without_cookies) {
    ADD_FAILURE() << "test bookkeeping differs from disk (test bug)\n"
                  << diff_trees(real_without_cookies, at_most(mut.expected(), max_depth));
  }
  return result;
}

LOOKOUT_TEST(Stress, RandomOperationsAddUpToTheTree, LABELS(slow)) {
  for (std::uint64_t seed : stress_seeds(3)) {
    run_stress(seed, stress_ops(), false);
    if (HasFailure()) break;
  }
}

LOOKOUT_TEST(Stress, RandomOperationsAddUpToTheTreePolling, LABELS(slow)) {
  for (std::uint64_t seed : stress_seeds(2)) {
    run_stress(seed, stress_ops(), false, Backend::poll);
    if (HasFailure()) break;
  }
}

// The skip reason when fanotify cannot be used where the stress trees are made, or empty.
std::string fanotify_unavailable() {
  const char* base = std::getenv("LOOKOUT_TEST_TMP");
  return lookout::testing::fanotify_unavailable(base && *base ? base : "/tmp");
}

LOOKOUT_TEST(Stress, RandomOperationsAddUpToTheTreeFanotify, LABELS(root, slow)) {
  if (std::string why = fanotify_unavailable(); !why.empty()) GTEST_SKIP() << why;
  for (std::uint64_t seed : stress_seeds(3)) {
    run_stress(seed, stress_ops(), false, Backend::fanotify);
    if (HasFailure()) break;
  }
}

LOOKOUT_TEST(Stress, ForcedOverflowRescanStillAddsUp, LABELS(root, slow, serial)) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to lower /proc/sys/fs/inotify/max_queued_events";
  if (::access("/proc/sys/fs/inotify/max_queued_events", W_OK) != 0) {
    GTEST_SKIP() << "/proc/sys/fs/inotify/max_queued_events is not writable here";
  }
  for (std::uint64_t seed : stress_seeds(1)) {
    RunResult r = run_stress(seed, stress_ops(), true);
    EXPECT_GT(r.rescans, 0u) << "seed " << seed << ": no rescan reported with a 64-event queue";
  }
}

LOOKOUT_TEST(Stress, ForcedOverflowRescanStillAddsUpFanotify, LABELS(root, slow, serial)) {
  if (std::string why = fanotify_unavailable(); !why.empty()) GTEST_SKIP() << why;
  if (::access("/proc/sys/fs/fanotify/max_queued_events", W_OK) != 0) {
    GTEST_SKIP() << "/proc/sys/fs/fanotify/max_queued_events is not writable here";
  }
  for (std::uint64_t seed : stress_seeds(1)) {
    RunResult r = run_stress(seed, stress_ops(), true, Backend::fanotify);
    EXPECT_GT(r.rescans, 0u) << "seed " << seed << ": no rescan reported with a 64-event queue";
  }
}

// Without -r: the root's own entries add up, with their contents, and nothing from below
// them is reported, while the operations go on at every depth.
LOOKOUT_TEST(Stress, NonRecursiveRootEntriesAddUp, LABELS(slow)) {
  std::vector<Backend> backends = {Backend::auto_select, Backend::poll};
  if (fanotify_unavailable().empty()) backends.push_back(Backend::fanotify);
  for (Backend b : backends) {
    for (std::uint64_t seed : stress_seeds(1)) run_stress(seed, stress_ops(), false, b, false);
    if (HasFailure()) break;
  }
}

// One watched file, changed at random through its own name and through a hard link beside it
// (which a filesystem mark reports under the link's name), chmod'ed and touched, among
// changes to its neighbours: every change is reported for the file, and nothing else is.
void run_single_file(std::uint64_t seed, Backend backend) {
  SCOPED_TRACE("seed " + std::to_string(seed) + ", backend " + backend_name(backend) +
               " (rerun with LOOKOUT_STRESS_SEED=" + std::to_string(seed) + ")");
  std::mt19937_64 rng(seed);
  lookout::testing::TempDir tmp;
  const std::string f = tmp / "watched file";
  ASSERT_TRUE(write_small_file(f, "start\n"));
  ASSERT_EQ(::link(f.c_str(), (tmp / "link").c_str()), 0);
  ASSERT_TRUE(write_small_file(tmp / "neighbour", ""));
  std::vector<std::string> args = {"watch", "-m", "--json", "-q", f};
  if (backend == Backend::poll) args.insert(args.end(), {"--backend", "poll", "--poll-min", "0.02", "--poll-max", "0.1", "--poll-full"});
  if (backend == Backend::fanotify) args.insert(args.end(), {"--backend", "fanotify"});
  LookoutProcess lk(args);
  auto ready = lk.next_record('\n', milliseconds(20000));
  ASSERT_TRUE(ready && *ready == "{\"event\":\"ready\"}") << lk.describe();
  std::vector<std::string> log;
  for (int i = 0; i < 120; ++i) {
    std::string want;  // the event kind that must follow, or none
    switch (rng() % 5) {
      case 0: {
        int fd = ::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, "a\n", 2), 2);
        ::close(fd);
        log.push_back("append through the name");
        want = "modify";
        break;
      }
      case 1: {
        int fd = ::open((tmp / "link").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, "bb\n", 3), 3);
        ::close(fd);
        log.push_back("append through the hard link");
        want = "modify";
        break;
      }
      case 2:
        ASSERT_EQ(::chmod(f.c_str(), (i & 1) ? 0600 : 0644), 0);
        log.push_back("chmod");
        want = "attrib";
        break;
      case 3: {
        // A new mtime a second ahead of the last, so polling sees it whatever the clock does.
        struct stat st {};
        ASSERT_EQ(::stat(f.c_str(), &st), 0);
        timespec times[2] = {st.st_atim, {st.st_mtim.tv_sec + 1, st.st_mtim.tv_nsec}};
        ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
        log.push_back("set mtime");
        want = "attrib";
        break;
      }
      default:
        ASSERT_TRUE(write_small_file(tmp / "neighbour", std::to_string(i)));
        log.push_back("write the neighbour");
        break;
    }
    if (want.empty()) continue;
    // Polling cannot tell an mtime set by hand from a write: either kind counts for it.
    bool seen = false;
    auto end = Clock::now() + milliseconds(10000);
    while (!seen && Clock::now() < end) {
      auto rec = lk.next_record('\n', std::chrono::duration_cast<milliseconds>(end - Clock::now()));
      if (!rec) break;
      auto o = parse_json_line(*rec);
      ASSERT_TRUE(o) << *rec;
      if ((*o)["event"] == "backend") continue;
      ASSERT_EQ(json_path(*o, "path"), f) << "reported another path: " << *rec;
      const std::string& k = (*o)["event"];
      seen = k == want || (want == "attrib" && k == "modify" && backend == Backend::poll) ||
             (want == "modify" && k == "close_write");
    }
    ASSERT_TRUE(seen) << "no " << want << " after operation " << i << " (" << log.back() << ")\n" << lk.describe();
  }
  lk.signal(SIGTERM);
  EXPECT_EQ(lk.wait_exit(milliseconds(10000)), std::optional<int>(0)) << lk.describe();
}

LOOKOUT_TEST(Stress, OneWatchedFileReportsEveryChange, LABELS(slow)) {
  std::vector<Backend> backends = {Backend::auto_select, Backend::poll};
  if (fanotify_unavailable().empty()) backends.push_back(Backend::fanotify);
  for (Backend b : backends) {
    for (std::uint64_t seed : stress_seeds(1)) run_single_file(seed, b);
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace lookout::e2e
