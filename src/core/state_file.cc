#include "core/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

namespace lookout::core {

namespace {
constexpr char kMagic[] = "LOOKOUT-STATE\n";
// Version 2 added the birth stamp (sys::BirthKind). Version 1 files still load, without
// one, so an upgrade does not turn "changes since the last run" into a fresh start.
constexpr std::uint32_t kVersion = 2;

struct Writer {
  std::string buf;
  template <typename T>
  void put(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    buf += s;
  }
};

struct Reader {
  const std::string& buf;
  std::size_t pos = 0;
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (pos + sizeof v > buf.size()) {
      ok = false;
      return v;
    }
    std::memcpy(&v, buf.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string str() {
    auto n = get<std::uint32_t>();
    if (!ok || pos + n > buf.size()) {
      ok = false;
      return {};
    }
    std::string s = buf.substr(pos, n);
    pos += n;
    return s;
  }
};

void put_stat(Writer& w, const Node& n) {
  w.put<std::uint8_t>(static_cast<std::uint8_t>(n.st.type));
  w.put<std::uint8_t>(n.stat_known ? 1 : 0);
  w.put(n.st.dev);
  w.put(n.st.ino);
  w.put(n.st.size);
  w.put(n.st.mtime_ns);
  w.put(n.st.ctime_ns);
  w.put(n.st.mode);
  w.put<std::uint8_t>(static_cast<std::uint8_t>(n.st.birth_kind));
  w.put(n.st.birth);
}

sys::FileStat get_stat(Reader& r, std::uint32_t version, bool& known) {
  sys::FileStat st;
  st.type = static_cast<sys::FileType>(r.get<std::uint8_t>());
  known = r.get<std::uint8_t>() != 0;
  st.dev = r.get<std::uint64_t>();
  st.ino = r.get<std::uint64_t>();
  st.size = r.get<std::uint64_t>();
  st.mtime_ns = r.get<std::int64_t>();
  st.ctime_ns = r.get<std::int64_t>();
  st.mode = r.get<std::uint32_t>();
  if (version >= 2) {
    auto kind = r.get<std::uint8_t>();
    st.birth = r.get<std::uint64_t>();
    if (kind > static_cast<std::uint8_t>(sys::BirthKind::generation)) r.ok = false;
    st.birth_kind = static_cast<sys::BirthKind>(kind);
  }
  return st;
}
}  // namespace

Result<void> save_state(const TreeModel& model, const std::string& file) {
  Writer w;
  w.buf = kMagic;
  w.put(kVersion);
  std::vector<NodeId> roots = model.children(kTopNode);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(roots.size()));
  for (NodeId root : roots) {
    // Pre-order with the parent's index in this list, so loading needs no path lookups.
    std::vector<std::pair<NodeId, std::uint32_t>> stack{{root, 0xffffffffu}};
    std::vector<std::pair<NodeId, std::uint32_t>> order;
    while (!stack.empty()) {
      auto [id, parent_index] = stack.back();
      stack.pop_back();
      auto index = static_cast<std::uint32_t>(order.size());
      order.emplace_back(id, parent_index);
      model.for_each_child(id, [&](NodeId c) { stack.emplace_back(c, index); });
    }
    w.put<std::uint64_t>(order.size());
    for (auto& [id, parent_index] : order) {
      w.put(parent_index);
      w.str(model.node(id).name);
      put_stat(w, model.node(id));
    }
  }
  w.put<std::uint32_t>(0x4C4B4F54);  // trailer: detects truncation
  std::string tmp = file + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error_from_errno(errno, "cannot write state file", tmp, "check the directory exists and is writable");
  std::size_t off = 0;
  while (off < w.buf.size()) {
    ssize_t n = ::write(fd, w.buf.data() + off, w.buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return error_from_errno(err, "cannot write state file", tmp, err == ENOSPC ? "the disk is full" : "");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return error_from_errno(err, "cannot write state file", tmp);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return error_from_errno(err, "cannot replace state file", file);
  }
  return {};
}

Result<void> load_state(TreeModel& out, const std::string& file,
                        const std::vector<std::string>& expected_roots) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return error_from_errno(errno, "no usable state in", file);
  std::string buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto corrupt = [&](const std::string& why) {
    return Error{ErrorCode::invalid_argument, 0, file, "state file " + file + " is unusable: " + why};
  };
  if (buf.compare(0, std::strlen(kMagic), kMagic) != 0) return corrupt("not a lookout state file");
  Reader r{buf, std::strlen(kMagic)};
  auto version = r.get<std::uint32_t>();
  if (version != kVersion && version != 1) return corrupt("written by another version");
  auto nroots = r.get<std::uint32_t>();
  if (!r.ok || nroots != expected_roots.size()) return corrupt("it describes other watched paths");
  for (std::uint32_t i = 0; i < nroots; ++i) {
    auto count = r.get<std::uint64_t>();
    if (!r.ok || count == 0 || count > buf.size()) return corrupt("truncated");
    std::vector<NodeId> ids;
    ids.reserve(count);
    for (std::uint64_t k = 0; k < count; ++k) {
      auto parent_index = r.get<std::uint32_t>();
      std::string name = r.str();
      bool known = false;
      sys::FileStat st = get_stat(r, version, known);
      if (!r.ok) return corrupt("truncated");
      if (k == 0) {
        if (name != expected_roots[i]) return corrupt("it describes " + name + ", not " + expected_roots[i]);
        ids.push_back(out.add_root(name, st));
      } else {
        if (parent_index >= ids.size()) return corrupt("bad parent index");
        ids.push_back(out.add(ids[parent_index], name, st, known));
      }
    }
  }
  if (r.get<std::uint32_t>() != 0x4C4B4F54 || !r.ok) return corrupt("truncated");
  return {};
}

}  // namespace lookout::core
