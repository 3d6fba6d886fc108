#include "sys/entry_stamps.h"

namespace lookout::sys {

EntryStat stamps_of(const struct stat& st) {
  return EntryStat{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::uint64_t>(st.st_size),
                   static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::optional<EntryStat> entry_stamps(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return stamps_of(st);
}

}  // namespace lookout::sys
