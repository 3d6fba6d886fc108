#include "tail/tailer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace lookout::tail {

namespace {

constexpr std::size_t kTailCheck = 16;  // bytes re-read before the offset to see a refill
// One read buffer for all files (one thread reads).
constexpr std::size_t kReadChunk = std::size_t{128} * 1024;
constexpr std::size_t kRoundBudget = 1 << 20;  // bytes per file per round: no file starves another
constexpr std::int64_t kDeletedPollMs = 200;   // deleted files raise no events: look this often
constexpr std::int64_t kCopyWaitMs =
    3000;  // how long a copy-named new file waits for its original's truncation
constexpr std::int64_t kGhostMs =
    60000;  // how long a truncated file's identity is kept for its copy
// Handles all used within this long: more busy files than --max-open (see make_room).
constexpr std::int64_t kBusyHandleMs = 1000;

// Whether two files' first bytes agree as far as both go (a copy in progress is shorter).
bool same_start(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a.empty();
  const std::size_t n = std::min(a.size(), b.size());
  return a.compare(0, n, b, 0, n) == 0;
}

std::string dir_of(const std::string& p) {
  std::size_t s = p.rfind('/');
  return s == 0 ? "/" : s == std::string::npos ? "." : p.substr(0, s);
}
std::string name_of(const std::string& p) {
  std::size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}
bool under(const std::string& p, const std::string& dir) {
  return p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 &&
         (dir == "/" || p[dir.size()] == '/');
}

}  // namespace

struct Tailer::File {
  FileKey key;
  std::string path;
  sys::UniqueFd fd;
  LineSplitter split;
  // The first bytes read from it (up to kFingerprintMax) and their fingerprint: taken from
  // the bytes actually read, never re-read later (the file may be cut by then).
  std::string head;
  Fingerprint fp;
  std::string tail;  // the last bytes read (up to kTailCheck), compared at the next read
  std::uint64_t size_seen = 0;
  std::int64_t last_growth_ms = 0;
  std::uint64_t lru = 0;
  std::int64_t active_ms = 0;  // when its handle was last used (make_room)
  bool deleted = false;    // no name in the tree any more: read until idle, then close
  bool queued = false;     // in dirty_
  bool changed = false;    // offset not yet committed
  bool copy_wait = false;  // a copy-named new file waiting for its original's truncation
  FileKey copy_of;
  std::int64_t copy_until_ms = 0;
  std::uint64_t once_limit = UINT64_MAX;  // --once: the size at the first look
  bool recheck = false;       // compare the first bytes at the next look (after a rescan)
  std::int64_t mtime_ns = 0;  // when found: orders new files found together (see read())
  File(const FileKey& k, std::string p, std::uint64_t start, std::size_t max_line, bool continued)
      : key(k), path(std::move(p)), split(start, max_line, continued) {}
};

Tailer::Tailer(const TailOptions& o, const PathSelect& select, Output& out, std::FILE* log,
               sys::Clock& clock)
    : o_(o), select_(select), out_(out), log_(log), clock_(clock), read_buf_(kReadChunk) {
  format_.kind = o.format;
  format_.with_filename = o.with_filename;
  format_.terminator = o.null_terminated ? '\0' : '\n';
  bulk_ = o.format == OutputFormat::text && !o.with_filename && !o.null_terminated;
  // Output redirected into the tree (`lookout tail DIR > DIR/out.log`) is never read back:
  // it would feed itself.
  struct stat st;
  if (::fstat(o.output_fd, &st) == 0 && S_ISREG(st.st_mode)) {
    output_key_ =
        FileKey{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  }
}

Tailer::~Tailer() = default;

void Tailer::note(const std::string& line) {
  if (!log_) return;
  std::fprintf(log_, "lookout tail: %s\n", line.c_str());
  std::fflush(log_);
}

void Tailer::restore(const std::vector<store::TailFile>& files, bool first_start) {
  first_start_ = first_start;
  for (const auto& f : files) restored_[{f.dev, f.ino}] = f;
}

Tailer::File* Tailer::find_path(const std::string& path) {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return nullptr;
  auto f = files_.find(it->second);
  return f == files_.end() ? nullptr : f->second.get();
}

void Tailer::set_path(File& f, const std::string& path) {
  if (f.path == path) return;
  auto it = by_path_.find(f.path);
  if (it != by_path_.end() && it->second == f.key) by_path_.erase(it);
  f.path = path;
  // A file renamed over another one's name: that one has no name now.
  auto old = by_path_.find(path);
  if (old != by_path_.end() && !(old->second == f.key)) {
    auto o = files_.find(old->second);
    if (o != files_.end()) gone(*o->second);
  }
  by_path_[path] = f.key;
  f.changed = true;
}

void Tailer::mark_dirty(File& f) {
  if (f.queued) return;
  f.queued = true;
  dirty_.push_back(f.key);
}

void Tailer::scan(const std::string& root, bool initial) {
  // Files held back so that those known from the state (and their truncations) are judged
  // before new ones: a copy made while lookout was stopped is then found by its original.
  std::vector<std::string> later;
  std::vector<std::string> stack{root};
  while (!stack.empty()) {
    std::string dir = std::move(stack.back());
    stack.pop_back();
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
      if (errno == EACCES && said_.insert("dir:" + dir).second) {
        note("cannot read " + dir + ": " + std::strerror(errno) + "; its files are skipped");
      }
      continue;
    }
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = dir;
      if (p != "/") p += '/';
      p += name;
      struct stat st;
      if (::lstat(p.c_str(), &st) != 0) continue;
      // Symlinks are not followed (a loop cannot trap the listing; the engine does the same).
      if (S_ISDIR(st.st_mode)) {
        if (select_.recursive()) stack.push_back(p);
        continue;
      }
      if (restored_.count(
              {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)})) {
        poke(p, initial);
      } else {
        later.push_back(std::move(p));
      }
    }
    ::closedir(d);
  }
  for (const std::string& p : later) poke(p, initial);
}

void Tailer::finish_initial_scan() {
  for (const auto& [key, f] : restored_) forgotten_.emplace_back(key.dev, key.ino);
  restored_.clear();
}

void Tailer::poke(const std::string& path, bool initial) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) return;
  const FileKey key{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  if (auto it = files_.find(key); it != files_.end()) {
    File& f = *it->second;
    if (f.deleted) {
      f.deleted = false;  // a name again (moved back in, or a hard link)
    }
    set_path(f, path);
    mark_dirty(f);
    return;
  }
  if (output_key_ && *output_key_ == key) return;
  if (std::find(o_.own_files.begin(), o_.own_files.end(), path) != o_.own_files.end()) return;
  const bool known = restored_.count(key) != 0;
  if (!known && !select_.selected(path)) return;
  if (!S_ISREG(st.st_mode)) {
    // FIFOs, devices and sockets are never opened: a read would block or eat a device.
    if (said_.insert("kind:" + path).second) note(path + ": not a regular file; not read");
    return;
  }
  // O_NONBLOCK: a file replaced by a FIFO between lstat and open must not block the loop.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
    make_room();
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  }
  if (fd < 0) {
    const int err = errno;
    if (err != ENOENT && said_.insert("open:" + path).second) {
      note("cannot read " + path + ": " + std::strerror(err) +
           "; skipped, the other files are read");
    }
    return;
  }
  struct stat fst;
  if (::fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_ino != st.st_ino ||
      fst.st_dev != st.st_dev) {
    ::close(fd);  // replaced between lstat and open: its own event follows
    return;
  }
  said_.erase("open:" + path);
  // The name belonged to another file (renamed away or deleted, its event not taken yet):
  // that one is read to its end first, so a rotated file's last lines come before the new
  // file's first ones.
  if (File* prev = find_path(path); prev && !(prev->key == key) && !prev->copy_wait)
    read_file(*prev, SIZE_MAX);
  start_file(path, key, fd, static_cast<std::uint64_t>(fst.st_size), initial);
  if (auto it = files_.find(key); it != files_.end()) {
    it->second->mtime_ns =
        static_cast<std::int64_t>(fst.st_mtim.tv_sec) * 1000000000 + fst.st_mtim.tv_nsec;
  }
}

void Tailer::start_file(const std::string& path, const FileKey& key, int fd, std::uint64_t size,
                        bool initial) {
  std::uint64_t start = 0;
  bool continued = false;
  bool copy_wait = false;
  FileKey copy_of;
  if (auto r = restored_.find(key); r != restored_.end()) {
    const store::TailFile s = r->second;
    restored_.erase(r);
    Known k{s.offset, {s.fp_length, s.fp_hash}};
    Seen seen{size, {}};
    if (s.fp_length > 0) read_fingerprint(fd, s.fp_length, seen.prefix);
    switch (decide(k, seen)) {
      case Verdict::same:
        start = s.offset;
        continued = s.continued;
        break;
      case Verdict::truncated:
        note(path + ": truncated while lookout was stopped (" + std::to_string(size) + " bytes, " +
             std::to_string(s.offset) + " were read); reading it from the start");
        append_truncated(format_, path, s.offset, size, 0, clock_.realtime_ns(), out_.buffer());
        ghosts_.push_back({dir_of(path), name_of(path), k.fp, s.offset, s.continued,
                           clock_.monotonic_ms() + kGhostMs});
        break;
      case Verdict::replaced:
        // Another file on a reused inode: new. Its old identity may still find a copy.
        ghosts_.push_back({dir_of(path), name_of(path), k.fp, s.offset, s.continued,
                           clock_.monotonic_ms() + kGhostMs});
        break;
    }
  } else {
    const std::string dir = dir_of(path), name = name_of(path);
    // copytruncate's copy of a file that was already truncated: read it past the offset
    // the original was read to (those lines exist only here), not from 0.
    for (auto g = ghosts_.begin(); g != ghosts_.end(); ++g) {
      if (g->dir != dir || g->fp.length == 0 || !is_copy_name(g->name, name)) continue;
      Fingerprint pre;
      if (!read_fingerprint(fd, g->fp.length, pre) || !(pre == g->fp) || size < g->offset) continue;
      start = g->offset;
      continued = g->continued;
      note(path + ": a copy of " + g->name + " (copytruncate); read from offset " +
           std::to_string(start));
      ghosts_.erase(g);
      break;
    }
    if (start == 0 && !initial) {
      // ... or of a file still being read: wait for its truncation to know where to start.
      // Only when its first bytes are (so far) what was read from that file: a rotated
      // generation found late (app.log.3, another first line) is not a copy and is read now.
      std::string head;
      for (const auto& [k, other] : files_) {
        if (other->deleted || dir_of(other->path) != dir ||
            !is_copy_name(name_of(other->path), name))
          continue;
        // What this file would be a copy of: what was read from the original, or what the
        // original holds now and will be read (lookout looks late: the original was cut and
        // refilled since it was read, and this is a copy of the refill). A rotated older
        // generation found late differs from both; a copy in progress (empty) does not.
        std::string now_there;
        if (other->fd.valid()) read_head(other->fd.get(), kFingerprintMax, now_there);
        if (other->head.empty() && now_there.empty()) continue;
        // A rotation of `other` is under way: its next look compares its first bytes, so a
        // truncation hidden by a refill past the offset is seen (copytruncate while caught up).
        other->recheck = true;
        mark_dirty(*other);
        if (head.empty()) read_head(fd, kFingerprintMax, head);
        if (!same_start(head, other->head) && !same_start(head, now_there)) continue;
        copy_wait = true;
        copy_of = k;
        break;
      }
    }
    if (start == 0 && !copy_wait && initial && first_start_ && o_.start_at_end) start = size;
  }
  auto f = std::make_unique<File>(key, path, start, o_.max_line, continued);
  f->fd.reset(fd);
  opened(*f);
  if (start > 0) {
    read_head(fd, std::min<std::uint64_t>(start, kFingerprintMax), f->head);
    f->fp = fingerprint_of(f->head);
  }
  f->size_seen = size;
  f->changed = true;
  f->last_growth_ms = clock_.monotonic_ms();
  f->copy_wait = copy_wait;
  f->copy_of = copy_of;
  f->copy_until_ms = clock_.monotonic_ms() + kCopyWaitMs;
  File& ref = *f;
  files_[key] = std::move(f);
  by_path_[path] = key;
  if (open_ > o_.max_open) make_room(&ref);
  ref.queued = true;
  fresh_.push_back(key);
}

void Tailer::opened(File& f) {
  ++open_;
  f.lru = ++activity_;
  f.active_ms = clock_.monotonic_ms();
  by_activity_.emplace(f.lru, &f);
}

void Tailer::touch(File& f) {
  if (!f.fd.valid()) return;
  by_activity_.erase(f.lru);
  f.lru = ++activity_;
  f.active_ms = clock_.monotonic_ms();
  by_activity_.emplace(f.lru, &f);
}

void Tailer::close_fd(File& f) {
  if (!f.fd.valid()) return;
  f.fd.reset();
  by_activity_.erase(f.lru);
  --open_;
}

void Tailer::make_room(const File* keep) {
  // Closes a handle of a file that still has a name (it is reopened by name and identity
  // when it changes again); a deleted file's handle is its only way in. In order of
  // activity, not a scan of every file: with more busy files than --max-open a handle is
  // closed for nearly every read.
  auto closable = [&](const File* f) { return f != keep && !f->deleted && !f->split.holding(); };
  auto oldest = std::find_if(by_activity_.begin(), by_activity_.end(),
                             [&](const auto& e) { return closable(e.second); });
  if (oldest == by_activity_.end()) return;
  // Usually the least recently active one. But when even that one was used within
  // kBusyHandleMs, more files are busy than there are handles, and they are typically
  // written in turn (a service's many logs): closing the least recent would close the next
  // one due and reopen every file on every round (1000 files, 512 handles: 100 % misses).
  // The most recently used one is then the last one due again, so the others keep their
  // handles and only the overflow cycles through one (49 % misses).
  if (clock_.monotonic_ms() - oldest->second->active_ms < kBusyHandleMs) {
    for (auto it = by_activity_.rbegin(); it != by_activity_.rend(); ++it) {
      if (closable(it->second)) {
        close_fd(*it->second);
        return;
      }
    }
  }
  close_fd(*oldest->second);
}

bool Tailer::ensure_open(File& f, struct stat& st, bool& statted) {
  statted = false;
  if (f.fd.valid()) return true;
  if (f.deleted) return false;
  if (open_ >= o_.max_open) make_room();
  int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return false;
  if (::fstat(fd, &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != f.key.ino ||
      static_cast<std::uint64_t>(st.st_dev) != f.key.dev) {
    ::close(fd);  // another file has the name now; this one is found by its own events
    return false;
  }
  f.fd.reset(fd);
  opened(f);
  statted = true;
  return true;
}

void Tailer::emit(File& f, std::vector<Piece>& pieces, std::uint64_t size) {
  if (pieces.empty()) return;
  LineContext c{f.path, size, f.key.dev, f.key.ino, clock_.realtime_ns()};
  for (const Piece& p : pieces) append_line(format_, c, p, out_.buffer());
  lines_ += pieces.size();
  pieces.clear();
  f.changed = true;
  if (auto r = out_.maybe_flush(); !r && fatal_.message.empty()) fatal_ = r.error();
}

void Tailer::truncated(File& f, std::uint64_t size, const char* how) {
  const std::uint64_t read_to = f.split.read_pos();
  // Bytes the file was seen to have but that were not read before it was cut: they are gone
  // from it (copytruncate keeps them in the copy, which is read past this offset).
  const std::uint64_t unread = f.size_seen > read_to ? f.size_seen - read_to : 0;
  std::vector<Piece> pieces;
  if (f.split.flush_partial(pieces)) emit(f, pieces, f.size_seen);
  note(f.path + ": " + how + " (" + std::to_string(size) + " bytes, " +
       std::to_string(f.split.emitted()) + " were read" +
       (unread ? ", " + std::to_string(unread) + " seen but not read" : "") +
       "); reading it from the start");
  append_truncated(format_, f.path, f.split.emitted(), size, unread, clock_.realtime_ns(),
                   out_.buffer());
  ghosts_.push_back({dir_of(f.path), name_of(f.path), f.fp, f.split.emitted(), f.split.continued(),
                     clock_.monotonic_ms() + kGhostMs});
  resolve_copies(f);
  f.split.restart(0);
  f.head.clear();
  f.tail.clear();
  f.fp = {};
  f.size_seen = size;
  f.changed = true;
}

void Tailer::resolve_copies(const File& original) {
  // Every copy waiting for this file: one whose first bytes are what was read from the file
  // before one of its truncations goes on from where that reading stopped. A copy still
  // empty (being written), or one of the refill the file holds now (lookout looked late: the
  // file was cut and refilled, then copied again), waits on for the next truncation: the
  // refill's lines are read from the file meanwhile. The others are generations never seen
  // in the file (cut and refilled before lookout looked): read from their start.
  std::string refill;
  bool refill_read = false;
  for (auto& [k, c] : files_) {
    if (!c->copy_wait || !(c->copy_of == original.key)) continue;
    c->copy_wait = false;
    mark_dirty(*c);
    if (resume_from_ghost(*c, dir_of(original.path), name_of(original.path))) continue;
    std::string copy_head;
    if (!c->fd.valid() || !read_head(c->fd.get(), kFingerprintMax, copy_head)) continue;
    if (!refill_read && original.fd.valid()) read_head(original.fd.get(), kFingerprintMax, refill);
    refill_read = true;
    if (copy_head.empty() || (!refill.empty() && same_start(copy_head, refill))) {
      c->copy_wait = true;
      c->copy_until_ms = clock_.monotonic_ms() + kCopyWaitMs;
    }
  }
}

bool Tailer::resume_from_ghost(File& c, const std::string& dir, const std::string& name) {
  struct stat st;
  if (!c.fd.valid() || ::fstat(c.fd.get(), &st) != 0) return false;
  const auto size = static_cast<std::uint64_t>(st.st_size);
  // Newest first: a copy is usually of the generation cut last.
  for (auto g = ghosts_.rbegin(); g != ghosts_.rend(); ++g) {
    if (g->dir != dir || g->name != name || g->fp.length == 0 || size < g->offset) continue;
    Fingerprint pre;
    if (!read_fingerprint(c.fd.get(), g->fp.length, pre) || !(pre == g->fp)) continue;
    c.split.restart(g->offset, g->continued);
    c.tail.clear();
    read_head(c.fd.get(), std::min<std::uint64_t>(g->offset, kFingerprintMax), c.head);
    c.fp = fingerprint_of(c.head);
    note(c.path + ": a copy of " + g->name + " (copytruncate); read from offset " +
         std::to_string(g->offset));
    ghosts_.erase(std::next(g).base());
    return true;
  }
  return false;
}

bool Tailer::read_file(File& f, std::size_t budget) {
  if (f.copy_wait) return false;
  struct stat st;
  bool statted = false;
  if (!ensure_open(f, st, statted)) return false;
  touch(f);
  // Reopened just now (more busy files than --max-open): its stat is a syscall old.
  if (!statted && ::fstat(f.fd.get(), &st) != 0) return false;
  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  // The first bytes are compared again only when a truncation could hide behind growth: the
  // file is shorter than what was read (certain), or lookout is a read chunk or more behind
  // (it may have been cut and refilled past the offset since the last look). Caught up, an
  // append is only an append, and the extra pread per look would cost ~15 % of the CPU.
  const bool suspect =
      size < f.split.read_pos() || size - f.split.read_pos() >= kReadChunk || f.recheck;
  f.recheck = false;
  if (f.fp.length > 0 && suspect) {
    Seen seen{size, {}};
    read_fingerprint(f.fd.get(), f.fp.length, seen.prefix);
    Verdict v = decide({f.split.read_pos(), f.fp}, seen);
    if (v != Verdict::same)
      truncated(f, size, v == Verdict::truncated ? "truncated" : "rewritten from the start");
  } else if (size < f.split.read_pos()) {
    truncated(f, size, "truncated");
  }
  if (size > f.size_seen) f.size_seen = size;
  if (o_.once) {
    // --once reads what each file held when first looked at, so that a file written faster
    // than it is read cannot keep the run going (the rest is for the next run).
    if (f.once_limit == UINT64_MAX) f.once_limit = size;
    size = std::min(size, f.once_limit);
  }
  char* chunk = nullptr;
  std::size_t used = 0;
  bool grew = false;
  while (f.split.read_pos() < size && used < budget && lines_ < o_.commit_lines) {
    const std::uint64_t pos = f.split.read_pos();
    // The read starts a few bytes early, at the last bytes already read: if they are not what
    // was read there, the file was cut and refilled past the offset between two looks (a
    // copytruncate while lookout was busy) and is read again from 0. No extra system call.
    const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(f.tail.size(), pos));
    chunk = read_buf_.data();
    ssize_t got =
        ::pread(f.fd.get(), chunk, std::min<std::uint64_t>(kReadChunk - k, size - pos) + k,
                static_cast<off_t>(pos - k));
    if (got < 0 && errno == EINTR) continue;
    if (got <= static_cast<ssize_t>(k)) break;  // cut while reading: the next look sees it
    if (k > 0 && std::string_view(chunk, k) != std::string_view(f.tail).substr(f.tail.size() - k)) {
      truncated(f, size, "rewritten under lookout (cut and refilled)");
      continue;
    }
    const ssize_t n = got - static_cast<ssize_t>(k);
    chunk = read_buf_.data() + k;
    f.tail.append(chunk + std::max<ssize_t>(0, n - static_cast<ssize_t>(kTailCheck)),
                  static_cast<std::size_t>(std::min<ssize_t>(n, kTailCheck)));
    if (f.tail.size() > kTailCheck) f.tail.erase(0, f.tail.size() - kTailCheck);
    used += static_cast<std::size_t>(n);
    grew = true;
    if (f.head.size() == pos && pos < kFingerprintMax) {
      f.head.append(chunk,
                    std::min<std::size_t>(static_cast<std::size_t>(n), kFingerprintMax - pos));
      f.fp = fingerprint_of(f.head);
    }
    // Pieces go straight into the output buffer: no copy or allocation per line.
    LineContext c{f.path, size, f.key.dev, f.key.ino, clock_.realtime_ns()};
    std::string& buf = out_.buffer();
    std::uint64_t lines = 0;
    std::string_view bytes(chunk, static_cast<std::size_t>(n));
    if (bulk_) buf.append(f.split.take_complete(bytes, lines));  // the output is the bytes
    f.split.feed_each(bytes, [&](const LineSplitter::PieceView& p) {
      append_line(format_, c, p, false, buf);
      ++lines;
    });
    if (lines) {
      lines_ += lines;
      f.changed = true;
    }
    if (auto r = out_.maybe_flush(); !r && fatal_.message.empty()) fatal_ = r.error();
    if (!fatal_.message.empty()) return false;
  }
  if (grew) f.last_growth_ms = clock_.monotonic_ms();
  return f.split.read_pos() < size;
}

bool Tailer::read() {
  if (!fresh_.empty()) {
    // New files found together (one batch of events, a listing) are read oldest write
    // first: when lookout looks late at a rotation, app.log.1 (last written at the
    // rotation) comes before the app.log that replaced it, whatever order the names were
    // seen in. Files already tracked, marked by the same events, come before them.
    std::vector<std::pair<std::int64_t, FileKey>> order;
    for (const FileKey& k : fresh_) {
      if (auto it = files_.find(k); it != files_.end()) order.emplace_back(it->second->mtime_ns, k);
    }
    // Equal stamps (the coarse clock: a rotation within a few ms) keep the found order,
    // which renames have put right (on_event).
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [t, k] : order) dirty_.push_back(k);
    fresh_.clear();
  }
  std::size_t n = dirty_.size();
  // Stops at --commit-lines so that a commit comes before more is read: what a kill -9 can
  // repeat stays within that bound.
  while (n-- > 0 && !dirty_.empty() && lines_ < o_.commit_lines) {
    FileKey k = dirty_.front();
    dirty_.pop_front();
    auto it = files_.find(k);
    if (it == files_.end()) continue;
    File& f = *it->second;
    f.queued = false;
    if (read_file(f, kRoundBudget)) mark_dirty(f);
    if (!fatal_.message.empty()) return false;
  }
  if (auto r = out_.maybe_flush(); !r && fatal_.message.empty()) fatal_ = r.error();
  return !dirty_.empty();
}

void Tailer::gone(File& f) {
  if (f.deleted) return;
  auto it = by_path_.find(f.path);
  if (it != by_path_.end() && it->second == f.key) by_path_.erase(it);
  f.deleted = true;
  f.last_growth_ms = clock_.monotonic_ms();
  f.copy_wait = false;
  if (!f.fd.valid()) {
    forget(f);  // nothing to read it through
    return;
  }
  mark_dirty(f);
}

void Tailer::forget(File& f) {
  FileKey k = f.key;
  auto it = by_path_.find(f.path);
  if (it != by_path_.end() && it->second == k) by_path_.erase(it);
  close_fd(f);
  forgotten_.emplace_back(k.dev, k.ino);
  files_.erase(k);  // f is gone from here on
}

void Tailer::on_event(const Event& e) {
  switch (e.kind) {
    case EventKind::rescan:
      // The engine lost track under e.path: every file there is looked at again, new ones
      // included (the differences also come as events; reading is idempotent by identity).
      for (auto& [k, f] : files_) {
        f->recheck = true;
        mark_dirty(*f);
      }
      scan(e.path, false);
      return;
    case EventKind::unmount:
    case EventKind::remove: {
      if (e.is_dir || e.kind == EventKind::unmount) {
        std::vector<File*> hit;
        for (auto& [k, f] : files_) {
          if (under(f->path, e.path)) hit.push_back(f.get());
        }
        for (File* f : hit) gone(*f);
        return;
      }
      File* f = find_path(e.path);
      if (!f) return;
      struct stat st;
      if (::lstat(e.path.c_str(), &st) == 0 &&
          static_cast<std::uint64_t>(st.st_ino) == f->key.ino &&
          static_cast<std::uint64_t>(st.st_dev) == f->key.dev) {
        return;  // still there (a stale event)
      }
      gone(*f);
      return;
    }
    case EventKind::rename: {
      if (e.is_dir) {
        std::vector<std::pair<File*, std::string>> moved;
        for (auto& [k, f] : files_) {
          if (under(f->path, e.from))
            moved.emplace_back(f.get(), e.path + f->path.substr(e.from.size()));
        }
        for (auto& [f, p] : moved) set_path(*f, p);
        for (auto& [f, p] : moved) mark_dirty(*f);
        return;
      }
      std::optional<FileKey> newer;  // a file found at e.from this batch: it came after this one
      if (File* f = find_path(e.from)) {
        struct stat st;
        if (::lstat(e.path.c_str(), &st) == 0 &&
            static_cast<std::uint64_t>(st.st_ino) == f->key.ino) {
          set_path(*f, e.path);
          mark_dirty(*f);
        } else {
          newer = f->key;
        }
      }
      poke(e.path, false);
      if (newer && fresh_.size() >= 2) {
        // Both new this batch (lookout looked late): the renamed one is the older generation
        // (app.log.1 before the app.log that replaced it), so it is read first.
        auto at = std::find(fresh_.begin(), fresh_.end(), *newer);
        if (at != fresh_.end() && fresh_.back() != *newer) {
          FileKey older = fresh_.back();
          fresh_.pop_back();
          fresh_.insert(std::find(fresh_.begin(), fresh_.end(), *newer), older);
        }
      }
      return;
    }
    case EventKind::create:
    case EventKind::modify:
    case EventKind::close_write:
    case EventKind::attrib:
    case EventKind::exists:
      if (e.is_dir) {
        // A directory made (or moved in) with files already in it: the engine reports what
        // it finds too, but a listing here costs little and misses nothing.
        if (e.kind == EventKind::create) scan(e.path, false);
        return;
      }
      if (e.kind == EventKind::modify || e.kind == EventKind::close_write) {
        // A write to a file tracked under this name: read it (a file put in its place comes
        // with a create or rename event of its own, so no lstat is needed here).
        if (File* f = find_path(e.path);
            f && (!e.stat || (e.stat->ino == f->key.ino && e.stat->dev == f->key.dev))) {
          mark_dirty(*f);
          return;
        }
      }
      if (e.kind == EventKind::attrib)
        said_.erase("open:" + e.path);  // a chmod may make it readable
      if (e.stat && !files_.count({e.stat->dev, e.stat->ino})) {
        // An event about a file that is no longer at this name (lookout looks late): the
        // file there now has events of its own further on, and this one comes back under its
        // new name (a rename). Taking the newcomer now would read a rotation's new file
        // before the rest of the old one.
        struct stat st;
        if (::lstat(e.path.c_str(), &st) == 0 &&
            (static_cast<std::uint64_t>(st.st_ino) != e.stat->ino ||
             static_cast<std::uint64_t>(st.st_dev) != e.stat->dev)) {
          return;
        }
      }
      poke(e.path, false);
      return;
    default:
      return;
  }
}

void Tailer::tick() {
  const std::int64_t now = clock_.monotonic_ms();
  std::vector<File*> close_deleted, idle;
  for (auto& [k, f] : files_) {
    if (f->copy_wait && now >= f->copy_until_ms) {
      // A copy still being written (logrotate copying a large file) waits on; and the
      // original is looked at first, so a truncation that came meanwhile is seen now.
      struct stat cs;
      if (f->fd.valid() && ::fstat(f->fd.get(), &cs) == 0 &&
          static_cast<std::uint64_t>(cs.st_size) != f->size_seen) {
        f->size_seen = static_cast<std::uint64_t>(cs.st_size);
        f->copy_until_ms = now + kCopyWaitMs;
        continue;
      }
      if (auto o = files_.find(f->copy_of); o != files_.end() && !o->second->copy_wait) {
        read_file(*o->second, kRoundBudget);
        if (!f->copy_wait) continue;  // resolved by the original's truncation
      }
      // Its original was not truncated again: a copy of an earlier generation finished late,
      // or a copy taken aside (cp), not a rotation. If its first bytes are the original's,
      // the lines are those already read there: skip to its end.
      f->copy_wait = false;
      auto o = files_.find(f->copy_of);
      if (o != files_.end() &&
          resume_from_ghost(*f, dir_of(o->second->path), name_of(o->second->path))) {
        mark_dirty(*f);
        continue;
      }
      Fingerprint pre;
      struct stat st;
      if (o != files_.end() && o->second->fp.length > 0 && f->fd.valid() &&
          read_fingerprint(f->fd.get(), o->second->fp.length, pre) && pre == o->second->fp &&
          ::fstat(f->fd.get(), &st) == 0) {
        f->split.restart(static_cast<std::uint64_t>(st.st_size));
        f->tail.clear();
        note(f->path + ": a copy of " + o->second->path +
             " that was not truncated; its lines were read there");
      }
      mark_dirty(*f);
    }
    if (f->deleted) {
      if (now - f->last_growth_ms >= o_.deleted_close_ms) {
        close_deleted.push_back(f.get());
      } else {
        mark_dirty(*f);  // no event will say it grew
      }
      continue;
    }
    if (f->split.holding() && now - f->last_growth_ms >= o_.partial_flush_ms) {
      std::vector<Piece> pieces;
      f->split.flush_partial(pieces);
      emit(*f, pieces, f->size_seen);
    }
    if (f->fd.valid() && !f->split.holding() && now - f->last_growth_ms >= o_.close_idle_ms)
      idle.push_back(f.get());
  }
  for (File* f : idle) close_fd(*f);
  for (File* f : close_deleted) {
    // Read to its end first: what the writer wrote before going idle is still there.
    if (read_file(*f, kRoundBudget)) {
      mark_dirty(*f);  // more to read (or a commit is due first): closed on a later tick
      continue;
    }
    std::vector<Piece> pieces;
    if (f->split.flush_partial(pieces)) emit(*f, pieces, f->size_seen);
    append_closed_deleted(format_, f->path, f->split.emitted(), clock_.realtime_ns(),
                          out_.buffer());
    forget(*f);
  }
  std::erase_if(ghosts_, [&](const Ghost& g) { return now >= g.until_ms; });
}

int Tailer::wait_ms() const {
  const std::int64_t now = clock_.monotonic_ms();
  std::int64_t next = INT64_MAX;
  for (const auto& [k, f] : files_) {
    if (f->copy_wait) next = std::min(next, f->copy_until_ms);
    if (f->deleted) {
      next = std::min(next, now + kDeletedPollMs);
      continue;
    }
    if (f->split.holding()) next = std::min(next, f->last_growth_ms + o_.partial_flush_ms);
    if (f->fd.valid()) next = std::min(next, f->last_growth_ms + o_.close_idle_ms);
  }
  if (next == INT64_MAX) return -1;
  return static_cast<int>(std::clamp<std::int64_t>(next - now, 0, 60000));
}

void Tailer::flush_partials() {
  for (auto& [k, f] : files_) {
    std::vector<Piece> pieces;
    if (f->split.flush_partial(pieces)) emit(*f, pieces, f->size_seen);
  }
}

void Tailer::all_gone() {
  std::vector<File*> all;
  for (auto& [k, f] : files_) all.push_back(f.get());
  for (File* f : all) gone(*f);
}

std::vector<store::TailFile> Tailer::take_changed() {
  std::vector<store::TailFile> out;
  for (auto& [k, f] : files_) {
    if (!f->changed || f->copy_wait) continue;
    f->changed = false;
    out.push_back({k.dev, k.ino, f->path, f->split.emitted(), f->fp.length, f->fp.hash,
                   f->split.continued()});
  }
  return out;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> Tailer::take_forgotten() {
  // A key forgotten and then tracked again (inode reuse) keeps its new row.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (auto& k : forgotten_) {
    if (!files_.count({k.first, k.second})) out.push_back(k);
  }
  forgotten_.clear();
  return out;
}

}  // namespace lookout::tail
