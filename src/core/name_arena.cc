#include "core/name_arena.h"

#include <functional>

namespace lookout::core {

NameArena::Ref NameArena::store(std::string_view name) {
  if (name.empty()) return {};
  const std::less<const char*> before;  // a total order, even across unrelated buffers
  if (!before(name.data(), bytes_.data()) && before(name.data(), bytes_.data() + bytes_.size())) {
    const std::string copy(name);  // its bytes may move while they are appended
    return store(copy);
  }
  const bool is_long = name.size() >= kLongName;
  bytes_.push_back(static_cast<char>(is_long ? kLongName : name.size()));
  Ref r{static_cast<std::uint32_t>(bytes_.size())};
  bytes_.insert(bytes_.end(), name.begin(), name.end());
  if (is_long) bytes_.push_back('\0');
  return r;
}

void NameArena::release(Ref r) {
  const std::size_t len = view(r).size();
  if (r.off > 1) dead_ += len + 1 + (len >= kLongName);
}

}  // namespace lookout::core
