// Slot arithmetic of the open-addressed tables whose size is any number, not a power of two
// (TreeModel's index, InotifyWatches): a table rebuilt at a multiple of its entries wastes
// less than one rounded up to a power of two. Linear probing, wrapping at the end.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lookout::core {

// The home slot of a 32-bit hash in a table of `size` slots (the hash scaled, not masked).
inline std::size_t scaled_slot(std::uint32_t hash, std::size_t size) {
  return static_cast<std::size_t>((static_cast<std::uint64_t>(hash) * size) >> 32);
}
inline std::size_t next_slot(std::size_t i, std::size_t size) { return i + 1 == size ? 0 : i + 1; }

}  // namespace lookout::core
