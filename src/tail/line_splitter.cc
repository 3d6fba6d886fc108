#include "tail/line_splitter.h"

namespace lookout::tail {

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
