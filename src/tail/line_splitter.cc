#include "tail/line_splitter.h"

namespace lookout::tail {

void LineSplitter::feed(std::string_view bytes, std::vector<Piece>& out) {
  while (!bytes.empty()) {
    const std::size_t nl = bytes.find('\n');
    const std::size_t room = max_line_ - hold_.size();  // > 0: a full hold is cut below
    if (nl != std::string_view::npos && nl <= room) {
      Piece p;
      p.offset = emitted_;
      p.text = std::move(hold_);
      p.text.append(bytes.substr(0, nl));
      p.continued = continued_;
      hold_.clear();
      emitted_ += p.text.size() + 1;  // the LF is consumed with its line
      continued_ = false;
      bytes.remove_prefix(nl + 1);
      out.push_back(std::move(p));
      continue;
    }
    const std::size_t take = std::min(room, bytes.size());
    hold_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (hold_.size() >= max_line_) {
      // Longer than max_line: cut here, marked, never dropped. A line of exactly max_line
      // bytes is not split: the cut waits for the next byte, and an LF there ends the line.
      if (bytes.empty() || bytes.front() == '\n') continue;
      Piece p;
      p.offset = emitted_;
      p.text = std::move(hold_);
      p.continued = continued_;
      p.split = true;
      hold_.clear();
      emitted_ += p.text.size();
      continued_ = true;
      out.push_back(std::move(p));
    }
  }
}

bool LineSplitter::flush_partial(std::vector<Piece>& out) {
  if (hold_.empty()) return false;
  Piece p;
  p.offset = emitted_;
  p.text = std::move(hold_);
  p.continued = continued_;
  p.partial = true;
  hold_.clear();
  emitted_ += p.text.size();
  continued_ = true;
  out.push_back(std::move(p));
  return true;
}

}  // namespace lookout::tail
