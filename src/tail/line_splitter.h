// LineSplitter: one file's offset bookkeeping. Bytes read from the file are fed in order;
// complete lines (ending at LF) come out with the offset of their first byte. Bytes after the
// last LF are held (bounded by max_line) until their LF arrives, a split is forced
// (max_line), or flush_partial() is called (idle, rotation, deleted EOF, stop). `emitted()`
// is the offset up to which every byte was handed out: the only offset that may be
// committed. Pure (no I/O, no clock); one per tracked file, not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
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

  // A piece as feed_each hands it over: `text` points into the bytes fed or the held bytes and
  // is valid only during the call (no allocation per line on the hot path).
  struct PieceView {
    std::uint64_t offset = 0;
    std::string_view text;
    bool continued = false, split = false;
  };
  // Calls emit(PieceView) for each piece `bytes` completes. `bytes` are the file's bytes at
  // read_pos().
  template <typename Emit>
  void feed_each(std::string_view bytes, Emit&& emit);
  // Bulk form for outputs that are the bytes themselves (text without names, LF-terminated):
  // when nothing is held and no line in `bytes` can reach max_line, consumes every complete
  // line at once and returns them as one span (LFs included) with their count; the rest is
  // left for feed_each. Returns an empty span when it does not apply.
  std::string_view take_complete(std::string_view& bytes, std::uint64_t& lines) {
    lines = 0;
    if (!hold_.empty() || bytes.size() >= max_line_) return {};
    const void* last = ::memrchr(bytes.data(), '\n', bytes.size());
    if (!last) return {};
    const std::size_t n =
        static_cast<std::size_t>(static_cast<const char*>(last) - bytes.data()) + 1;
    const std::string_view span = bytes.substr(0, n);
    lines = static_cast<std::uint64_t>(std::count(span.begin(), span.end(), '\n'));
    emitted_ += n;
    continued_ = false;
    bytes.remove_prefix(n);
    return span;
  }
  // The same, appending copies to `out` (tests, and anything that keeps pieces).
  void feed(std::string_view bytes, std::vector<Piece>& out) {
    feed_each(bytes, [&](const PieceView& v) {
      Piece p;
      p.offset = v.offset;
      p.text = std::string(v.text);
      p.continued = v.continued;
      p.split = v.split;
      out.push_back(std::move(p));
    });
  }
  // Emits the held bytes (if any) as a partial piece; the next piece is `continued`.
  bool flush_partial(std::vector<Piece>& out);

  std::uint64_t emitted() const { return emitted_; }                  // safe to commit
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

template <typename Emit>
void LineSplitter::feed_each(std::string_view bytes, Emit&& emit) {
  while (!bytes.empty()) {
    const std::size_t room = max_line_ - hold_.size();  // > 0: a full hold is cut below
    const std::size_t nl = bytes.find('\n');
    if (nl != std::string_view::npos && nl <= room) {
      PieceView p;
      p.offset = emitted_;
      p.continued = continued_;
      if (hold_.empty()) {
        p.text = bytes.substr(0, nl);  // the common case: the line is in the bytes read
        emit(p);
      } else {
        hold_.append(bytes.substr(0, nl));
        p.text = hold_;
        emit(p);
      }
      emitted_ += p.text.size() + 1;  // the LF is consumed with its line
      hold_.clear();
      continued_ = false;
      bytes.remove_prefix(nl + 1);
      continue;
    }
    const std::size_t take = std::min(room, bytes.size());
    hold_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (hold_.size() >= max_line_) {
      // Longer than max_line: cut here, marked, never dropped. A line of exactly max_line
      // bytes is not split: the cut waits for the next byte, and an LF there ends the line.
      if (bytes.empty() || bytes.front() == '\n') continue;
      PieceView p;
      p.offset = emitted_;
      p.text = hold_;
      p.continued = continued_;
      p.split = true;
      emit(p);
      emitted_ += hold_.size();
      hold_.clear();
      continued_ = true;
    }
  }
}

}  // namespace lookout::tail
