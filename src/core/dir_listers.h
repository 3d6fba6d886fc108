// DirListers: a few threads that open, list and stat directories for TreeScanner's crawl, so
// the kernel's share of a large crawl (open, getdents64, statx of subdirectories, close) runs
// beside the loop thread, which keeps everything that touches the model or the watches
// (adding each watch before its directory is queued, applying listings in order).
// Owned by one TreeScanner; submit(), take() and the destructor are for its thread only; the
// listers touch nothing but the jobs they are given and the Fs, which must be thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tree_model.h"
#include "sys/dir_reader.h"
#include "sys/file_stat.h"
#include "sys/fs.h"

namespace lookout::core {

// One directory to list, and what the listing found.
struct DirListing {
  // Filled by the loop thread.
  NodeId dir = kNoNode;
  std::uint64_t ino = 0;  // the directory's inode when queued: 0 for a root (not checked)
  std::string path;
  int flags = 0;
  bool stat_files = true;
  std::uint64_t dir_dev = 0;
  // Filled by a lister. open_err: the open failed (an errno); read_err: getdents64 failed.
  // moved: the path held another directory when opened (the one queued was renamed away
  // after its watch was added): nothing was listed, as if the path had not resolved.
  int open_err = 0;
  int read_err = 0;
  bool moved = false;
  struct Entry {
    std::uint32_t name_off;
    std::uint32_t name_len;
    sys::FileStat st;
    bool known;  // st is a full stat (not just d_type and d_ino)
  };
  std::vector<Entry> entries;  // gone already (the stat failed): left out
  std::string names;           // the entries' names, each followed by a NUL
  std::string_view name(const Entry& e) const { return {names.data() + e.name_off, e.name_len}; }
};

class DirListers {
 public:
  DirListers(unsigned threads, sys::Fs& fs);
  ~DirListers();  // waits for the listers; what is still queued is dropped
  DirListers(const DirListers&) = delete;
  DirListers& operator=(const DirListers&) = delete;

  // Hands out every job of `jobs` (left empty) at once: one wake-up for a batch.
  void submit(std::vector<std::unique_ptr<DirListing>>& jobs);
  // Moves every finished listing to `out`, in the order they finished. When none has
  // finished, the caller lists a queued one itself (a lister the scheduler took away must
  // not hold it up: on a busy machine, waiting for a wake-up costs a time slice), and waits
  // only when every listing in flight is in a lister's hands.
  void take(std::vector<std::unique_ptr<DirListing>>& out);
  std::size_t in_flight() const { return in_flight_; }

 private:
  void work();
  void list(DirListing& job, sys::DirReader& reader, std::vector<sys::DirEntry>& entries);

  sys::Fs& fs_;
  std::mutex mu_;
  std::condition_variable has_job_;
  std::condition_variable has_done_;
  std::deque<std::unique_ptr<DirListing>> jobs_;
  std::vector<std::unique_ptr<DirListing>> done_;
  bool stopping_ = false;
  bool waiting_ = false;  // the caller of take() waits for a listing
  std::size_t in_flight_ = 0;  // submitted and not taken: the loop thread's count
  std::vector<std::thread> threads_;
  sys::DirReader reader_;  // take()'s own listings
  std::vector<sys::DirEntry> entries_;
};

}  // namespace lookout::core
