// TailState: `lookout tail --state FILE`, the committed offset of every file tail reads, keyed
// by identity (dev, inode) with the fingerprint that tells a reused inode apart and the path
// it had (for messages only). SQLite in WAL mode, like the ingest journal beside it: a commit
// is one transaction, so a crash leaves the previous commit whole. The file also records the
// PATHs it belongs to; a state of other PATHs, a corrupt file or one that is not a tail state
// is refused (the caller may ask to move it aside: OpenOptions::reset).
// One TailState per process (an exclusive flock: two tails on one state would each commit
// offsets the other did not output); not thread-safe.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lookout/result.h"

namespace lookout::store {

struct TailFile {
  std::uint64_t dev = 0, ino = 0;
  std::string path;
  std::uint64_t offset = 0;  // every byte before it was written to the output and flushed
  std::uint64_t fp_length = 0, fp_hash = 0;
  bool continued = false;  // the byte at offset continues a piece already output (partial)
};

class TailState {
 public:
  // `roots`: the PATHs as resolved, one a line. With `reset`, a file that cannot be used (or
  // any old file) is moved to FILE.old-TIME first.
  static Result<std::unique_ptr<TailState>> open(const std::string& path, const std::string& roots,
                                                 bool reset);
  ~TailState();
  TailState(const TailState&) = delete;
  TailState& operator=(const TailState&) = delete;

  const std::string& path() const { return path_; }
  const std::string& moved_aside() const { return moved_aside_; }
  bool fresh() const { return fresh_; }  // no commit was ever made in it

  Result<std::vector<TailFile>> load();
  // One transaction: the rows of `changed` replace theirs; `forgotten` (dev, ino) are removed.
  Result<void> commit(const std::vector<TailFile>& changed,
                      const std::vector<std::pair<std::uint64_t, std::uint64_t>>& forgotten);

  // Test seam: caps the file's size in pages, so "disk full" can be had without a full disk.
  void limit_pages_for_test(int pages);

 private:
  TailState(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  Result<void> setup(const std::string& roots);
  Error error(const char* what) const;
  Result<void> exec(const char* sql);

  std::string path_, moved_aside_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  bool fresh_ = false;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* remove_ = nullptr;
};

}  // namespace lookout::store
