// NameArena: the bytes of TreeModel's entry names, back to back in one buffer, each followed
// by a NUL (so a name goes to a syscall as it is). A node holds a 4-byte Ref instead of a
// 32-byte std::string, and a name costs its length plus one instead of a heap block beyond 15
// bytes. The NUL is also the length: a file name cannot hold one (nor can a root's absolute
// path), so a Ref is just an offset and the length is found when a name is read. Freed names
// leave holes; the model rewrites its refs into a compacted arena once the holes outweigh the
// names (see TreeModel::set_name). Offsets are 32-bit: room for 4 GiB of live names, some 10^8
// entries (the node table would take 3 GB by then). Owned by one TreeModel; not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lookout::core {

class NameArena {
 public:
  struct Ref {
    std::uint32_t off = 0;  // 0: the empty name every arena starts with
  };

  NameArena() : bytes_(1, '\0') {}

  std::string_view view(Ref r) const { return c_str(r); }
  const char* c_str(Ref r) const { return bytes_.data() + r.off; }
  // view(r) == name, without reading past r's NUL (`name` may be longer, or hold a NUL).
  bool equals(Ref r, std::string_view name) const {
    const char* p = c_str(r);
    return ::strnlen(p, name.size() + 1) == name.size() && std::memcmp(p, name.data(), name.size()) == 0;
  }

  // Appends `name`. The buffer may move, as a vector does when it grows: views of other
  // names are invalid after. `name` may itself be a view into this arena.
  Ref store(std::string_view name) {
    if (name.empty()) return {};
    const std::less<const char*> before;  // a total order, even across unrelated buffers
    if (!before(name.data(), bytes_.data()) && before(name.data(), bytes_.data() + bytes_.size())) {
      const std::string copy(name);  // its bytes may move while they are appended
      return store(copy);
    }
    Ref r{static_cast<std::uint32_t>(bytes_.size())};
    bytes_.insert(bytes_.end(), name.begin(), name.end());
    bytes_.push_back('\0');
    return r;
  }
  // The bytes of `r` are no longer used (they stay readable until the next compaction).
  void release(Ref r) {
    if (r.off != 0) dead_ += std::strlen(c_str(r)) + 1;
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
