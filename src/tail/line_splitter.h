// LineSplitter: one file's offset bookkeeping. Bytes read from the file are fed in order;
// complete lines (ending at LF) come out with the offset of their first byte. Bytes after the
// last LF are held (bounded by max_line) until their LF arrives, a split is forced
// (max_line), or flush_partial() is called (idle, rotation, deleted EOF, stop). `emitted()`
// is the offset up to which every byte was handed out: the only offset that may be
// committed. Pure (no I/O, no clock); one per tracked file, not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lookout::tail {

struct Piece {
  std::uint64_t offset = 0;  // of the first byte in the file
  std::string text;          // without its LF (a CR before it stays)
  bool partial = false;      // flushed before its LF arrived
  bool continued = false;    // the rest of a partial or split piece
  bool split = false;        // cut at max_line; the next piece continues it
};

class LineSplitter {
 public:
  LineSplitter(std::uint64_t start, std::size_t max_line, bool continued = false)
      : emitted_(start), max_line_(max_line == 0 ? 1 : max_line), continued_(continued) {}

  // Appends the pieces `bytes` completes to `out`. `bytes` are the file's bytes at read_pos().
  void feed(std::string_view bytes, std::vector<Piece>& out);
  // Emits the held bytes (if any) as a partial piece; the next piece is `continued`.
  bool flush_partial(std::vector<Piece>& out);

  std::uint64_t emitted() const { return emitted_; }                   // safe to commit
  std::uint64_t read_pos() const { return emitted_ + hold_.size(); }  // where to read next
  bool holding() const { return !hold_.empty(); }
  bool continued() const { return continued_; }  // the next piece continues an earlier one
  // Starts over at `offset` (truncation): held bytes are dropped by the caller's choice
  // (flush_partial first to keep them).
  void restart(std::uint64_t offset, bool continued = false) {
    hold_.clear();
    emitted_ = offset;
    continued_ = continued;
  }

 private:
  std::uint64_t emitted_;
  std::size_t max_line_;
  bool continued_;
  std::string hold_;
};

}  // namespace lookout::tail
