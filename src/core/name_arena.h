// NameArena: the bytes of TreeModel's entry names, back to back in one buffer, each followed
// by a NUL (so a name goes to a syscall as it is). A node holds an 8-byte Ref instead of a
// 32-byte std::string, and a name costs its length plus one instead of a heap block beyond 15
// bytes. Freed names leave holes; the model rewrites its refs into a compacted arena once the
// holes outweigh the names (see TreeModel::set_name). Offsets are 32-bit: room for 4 GiB of
// live names, some 10^8 entries (the node table would take 4 GB by then). Owned by one
// TreeModel; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lookout::core {

class NameArena {
 public:
  struct Ref {
    std::uint32_t off = 0;  // 0: the empty name every arena starts with
    std::uint32_t len = 0;
  };

  NameArena() : bytes_(1, '\0') {}

  std::string_view view(Ref r) const { return {bytes_.data() + r.off, r.len}; }
  const char* c_str(Ref r) const { return bytes_.data() + r.off; }

  // Appends `name`. The buffer may move, as a vector does when it grows: views of other
  // names are invalid after. `name` may itself be a view into this arena.
  Ref store(std::string_view name) {
    if (name.empty()) return {};
    const std::less<const char*> before;  // a total order, even across unrelated buffers
    if (!before(name.data(), bytes_.data()) && before(name.data(), bytes_.data() + bytes_.size())) {
      const std::string copy(name);  // its bytes may move while they are appended
      return store(copy);
    }
    Ref r{static_cast<std::uint32_t>(bytes_.size()), static_cast<std::uint32_t>(name.size())};
    bytes_.insert(bytes_.end(), name.begin(), name.end());
    bytes_.push_back('\0');
    return r;
  }
  // The bytes of `r` are no longer used (they stay readable until the next compaction).
  void release(Ref r) {
    if (r.len != 0) dead_ += r.len + 1;
  }
  // Worth compacting: holes outweigh names, and are more than a few pages.
  bool wants_compaction() const { return dead_ > 64 * 1024 && dead_ * 2 > bytes_.size(); }
  std::size_t live_bytes() const { return bytes_.size() - dead_; }
  void reserve(std::size_t bytes) { bytes_.reserve(bytes); }
  std::size_t capacity() const { return bytes_.capacity(); }

 private:
  std::vector<char> bytes_;
  std::size_t dead_ = 0;
};

}  // namespace lookout::core
