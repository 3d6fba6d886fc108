// Tailer: the file registry and reader of `lookout tail`. It tracks every file it reads by
// identity (dev, inode; see identity.h), not by name, so renames, directory moves and
// rotation keep a file's offset; it opens files (at most max_open at once), reads what is new
// into the Output, and keeps the offsets that may be committed. Events come from a
// subscription (on_event), the initial listing and rescans from scan(); read() does the
// reading in bounded rounds so that one busy file cannot starve the others nor the loop.
// Owned and used by one thread (tail::run's); no locks.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lookout/event.h"
#include "store/tail_state.h"
#include "sys/clock.h"
#include "sys/unique_fd.h"
#include "tail/identity.h"
#include "tail/line_splitter.h"
#include "tail/output.h"
#include "tail/path_select.h"
#include "tail/record_format.h"
#include "tail/tail_options.h"

namespace lookout::tail {

struct FileKey {
  std::uint64_t dev = 0, ino = 0;
  bool operator==(const FileKey&) const = default;
};
struct FileKeyHash {
  std::size_t operator()(const FileKey& k) const {
    return std::hash<std::uint64_t>()(k.dev * 0x9e3779b97f4a7c15ull ^ k.ino);
  }
};

class Tailer {
 public:
  Tailer(const TailOptions& o, const PathSelect& select, Output& out, std::FILE* log,
         sys::Clock& clock);
  ~Tailer();

  // The committed offsets of an earlier run; `first_start`: no state yet (--start-at applies).
  void restore(const std::vector<store::TailFile>& files, bool first_start);
  // Lists every file under `dir` (the roots at start; a subtree after a rescan) and takes
  // those selected (or known by identity). `initial`: the start-up listing.
  void scan(const std::string& dir, bool initial);
  // After the start-up listing: files of the state not found are forgotten.
  void finish_initial_scan();
  void on_event(const Event& e);
  // Reads dirty files (each up to a budget); true while some are left to read.
  bool read();
  // Timers: partial lines idle past --partial-flush, deleted files idle past --deleted-close,
  // idle handles past --close-idle, and polling of deleted files (no events come for them).
  void tick();
  // How long the loop may sleep before tick() has something to do (ms, -1: forever).
  int wait_ms() const;
  // At stop: every held partial line is emitted (marked partial).
  void flush_partials();
  // Every tracked file gone or not: all deleted/moved-away files are read to the end and
  // closed (the root itself went away).
  void all_gone();

  // Commit bookkeeping: rows changed since the last take, and removed ones.
  std::vector<store::TailFile> take_changed();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> take_forgotten();
  std::uint64_t lines_since_commit() const { return lines_; }
  void committed() { lines_ = 0; }
  // The first error that ends the run (the output could not be written), empty otherwise.
  const Error& fatal() const { return fatal_; }
  std::size_t tracked() const { return files_.size(); }
  std::size_t open_files() const { return open_; }

  struct File;

 private:
  void poke(const std::string& path, bool initial);
  void start_file(const std::string& path, const FileKey& key, int fd, std::uint64_t size,
                  bool initial);
  // `st` gets the file's stat when this call opened it (the identity check's fstat), so the
  // read that follows needs no second one; untouched when the handle was open already.
  bool ensure_open(File& f, struct stat& st, bool& statted);
  void opened(File& f);  // f.fd just became valid
  void touch(File& f);   // f was active: last in line to be closed by make_room
  void close_fd(File& f);
  void make_room(const File* keep = nullptr);  // closes one handle, never keep's
  bool read_file(File& f, std::size_t budget);
  void truncated(File& f, std::uint64_t size, const char* how);
  void gone(File& f);  // deleted or moved out: read on until idle, then close
  void forget(File& f);
  void set_path(File& f, const std::string& path);
  void mark_dirty(File& f);
  void emit(File& f, std::vector<Piece>& pieces, std::uint64_t size);
  void resolve_copies(const File& original);
  // Goes on reading copy `c` where a truncated file named dir/name was read to, if c's
  // first bytes are that file's before one of its truncations (a ghost's).
  bool resume_from_ghost(File& c, const std::string& dir, const std::string& name);
  void note(const std::string& line);
  File* find_path(const std::string& path);

  const TailOptions& o_;
  const PathSelect& select_;
  Output& out_;
  std::FILE* log_;
  sys::Clock& clock_;
  Format format_;
  bool bulk_ = false;  // bare LF-terminated lines: complete lines are copied as one span

  std::unordered_map<FileKey, std::unique_ptr<File>, FileKeyHash> files_;
  std::unordered_map<std::string, FileKey> by_path_;
  std::unordered_map<FileKey, store::TailFile, FileKeyHash> restored_;
  bool first_start_ = true;
  std::deque<FileKey> dirty_;
  std::vector<FileKey> fresh_;  // new files, queued by read() in order of their last write
  std::unordered_set<std::string> said_;  // notes already given (once per path and kind)
  struct Ghost {  // a truncated file's last identity, for its copy (copytruncate)
    std::string dir, name;
    Fingerprint fp;
    std::uint64_t offset;
    bool continued;
    std::int64_t until_ms;
  };
  std::vector<Ghost> ghosts_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> forgotten_;
  std::uint64_t lines_ = 0;
  std::size_t open_ = 0;
  std::uint64_t activity_ = 0;  // LRU stamp for handles
  std::map<std::uint64_t, File*> by_activity_;  // open files by their stamp, oldest first
  Error fatal_;
  std::optional<FileKey> output_key_;  // the output, when it is a regular file
  std::vector<char> read_buf_;         // one read buffer, shared by every file (one thread)
};

}  // namespace lookout::tail
