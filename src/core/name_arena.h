// NameArena: the bytes of TreeModel's entry names, back to back in one buffer, each preceded
// by its length in one byte (no NUL: a name is copied out, NUL-terminated, for a syscall).
// A node holds a 4-byte Ref, an offset, instead of a 32-byte std::string, and a name costs
// its length plus one instead of a heap block beyond 15 bytes. Freed names leave holes; the model rewrites its refs into a compacted arena once
// the holes outweigh the names (see TreeModel::set_name). Offsets are 32-bit: room for 4 GiB of live names, some 10^8
// entries (the node table would take 3 GB by then). Owned by one TreeModel; not thread-safe.
// Reading a name is inline (the index compares names on every lookup); storing is not.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace lookout::core {

// A file name is at most 255 bytes (NAME_MAX): a byte holds its length, but for 255 itself,
// which also stands for a root's longer path.
inline constexpr std::size_t kLongName = 255;

class NameArena {
 public:
  struct Ref {
    std::uint32_t off = 1;  // 1: the empty name every arena starts with
  };
  // Room for a file name (NAME_MAX) and its NUL: c_str() copies a name here for a syscall.
  struct CName {
    char bytes[kLongName + 1];
  };

  NameArena() : bytes_{0} {}

  // The length byte before the name (255: a longer one, a root's path, or a name of exactly
  // 255 bytes: stored with a NUL, which ends it).
  std::string_view view(Ref r) const {
    const char* p = bytes_.data() + r.off;
    const auto len = static_cast<unsigned char>(p[-1]);
    return {p, len < kLongName ? len : std::strlen(p)};
  }
  // The name NUL-terminated: in `buf`, or in place for one stored with its NUL. Valid while
  // `buf` lives and the arena does not move.
  const char* c_str(Ref r, CName& buf) const {
    const char* p = bytes_.data() + r.off;
    const auto len = static_cast<unsigned char>(p[-1]);
    if (len == kLongName) return p;
    std::memcpy(buf.bytes, p, len);
    buf.bytes[len] = '\0';
    return buf.bytes;
  }
  bool equals(Ref r, std::string_view name) const { return view(r) == name; }

  // Appends `name`. The buffer may move, as a vector does when it grows: views of other
  // names are invalid after. `name` may itself be a view into this arena.
  Ref store(std::string_view name);
  // The bytes of `r` are no longer used (they stay readable until the next compaction).
  void release(Ref r);
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
