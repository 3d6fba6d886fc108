#include "core/content_scan.h"

#include <fcntl.h>

#include <cerrno>
#include <vector>

#include "sys/fs.h"

namespace lookout::core {

namespace {

bool same_content_stamp(const sys::FileStat& a, const sys::FileStat& b) {
  return a.type == b.type && a.dev == b.dev && a.ino == b.ino && a.birth == b.birth &&
         a.birth_kind == b.birth_kind && a.size == b.size && a.mtime_ns == b.mtime_ns &&
         a.ctime_ns == b.ctime_ns;
}

}  // namespace

HashCost hash_contents(const TreeModel* live, NodeId live_dir, TreeModel& fresh, NodeId fresh_dir,
                       sys::ContentHasher& hasher, sys::Fs& fs,
                       const std::function<void(const Error&)>& unreadable) {
  HashCost cost;
  // (live dir or kNoNode, fresh dir)
  std::vector<std::pair<NodeId, NodeId>> stack{{live ? live_dir : kNoNode, fresh_dir}};
  std::vector<NodeId> to_read;
  while (!stack.empty()) {
    auto [l, f] = stack.back();
    stack.pop_back();
    to_read.clear();
    fresh.for_each_child(f, [&](NodeId fc) {
      const Node& fn = fresh.node(fc);
      NodeId lc = l == kNoNode ? kNoNode : live->find(l, fresh.name(fc));
      if (fn.is_dir()) {
        stack.emplace_back(lc != kNoNode && live->node(lc).is_dir() ? lc : kNoNode, fc);
        return;
      }
      if (fn.type() != sys::FileType::file || !fresh.stat_known(fc)) return;
      if (lc != kNoNode && same_content_stamp(live->stat(lc), fresh.stat(fc))) {
        if (auto h = live->content_hash(lc)) {
          fresh.set_content_hash(fc, *h);
          ++cost.hashes_reused;
          return;
        }
      }
      to_read.push_back(fc);
    });
    if (to_read.empty()) continue;
    std::string dir_path = fresh.path(f);
    sys::FsFd dfd(fs, fs.open_dir(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid()) continue;  // gone or unlistable: the scan has reported it already
    for (NodeId fc : to_read) {
      std::uint64_t h = 0;
      core::TreeModel::CName name;
      int err = hasher.hash_at(fs, dfd.get(), fresh.c_name(fc, name), fresh.stat(fc).ino, h);
      if (err == 0) {
        fresh.set_content_hash(fc, h);
        ++cost.files_read;
      } else if (err != ENOENT && err != ESTALE && unreadable) {
        Error e = error_from_errno(err, "content checksum: cannot read", fresh.path(fc),
                                   "its content is compared by size and mtime only; make it "
                                   "readable or exclude it");
        e.cause = Cause::checksum_unreadable;
        unreadable(std::move(e));
      }
    }
  }
  return cost;
}

}  // namespace lookout::core
