#include "core/dir_listers.h"

#include <algorithm>
#include <cerrno>

namespace lookout::core {

DirListers::DirListers(unsigned threads, sys::Fs& fs) : fs_(fs) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

DirListers::~DirListers() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  has_job_.notify_all();
  for (auto& t : threads_) t.join();
}

void DirListers::submit(std::vector<std::unique_ptr<DirListing>>& jobs) {
  if (jobs.empty()) return;
  in_flight_ += jobs.size();
  {
    std::lock_guard lock(mu_);
    for (auto& j : jobs) jobs_.push_back(std::move(j));
  }
  jobs.clear();
  has_job_.notify_all();
}

void DirListers::take(std::vector<std::unique_ptr<DirListing>>& out) {
  std::unique_lock lock(mu_);
  if (done_.empty() && !jobs_.empty()) {
    std::unique_ptr<DirListing> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    list(*job, reader_, entries_);
    out.push_back(std::move(job));
    --in_flight_;
    lock.lock();
  } else if (done_.empty() && in_flight_ > 0) {
    waiting_ = true;
    has_done_.wait(lock, [&] { return !done_.empty(); });
    waiting_ = false;
  }
  in_flight_ -= done_.size();
  for (auto& d : done_) out.push_back(std::move(d));
  done_.clear();
}

void DirListers::work() {
  sys::DirReader reader;  // one buffer per lister
  std::vector<sys::DirEntry> entries;
  for (;;) {
    std::unique_ptr<DirListing> job;
    {
      std::unique_lock lock(mu_);
      has_job_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    list(*job, reader, entries);
    bool wake;
    {
      std::lock_guard lock(mu_);
      done_.push_back(std::move(job));
      wake = waiting_;
    }
    if (wake) has_done_.notify_one();
  }
}

void DirListers::list(DirListing& job, sys::DirReader& reader,
                      std::vector<sys::DirEntry>& entries) {
  job.entries.clear();
  job.names.clear();
  job.open_err = job.read_err = 0;
  job.moved = false;
  const int opened = fs_.open_dir(job.path.c_str(), job.flags);
  sys::FsFd fd(fs_, opened);
  if (!fd.valid()) {
    job.open_err = -opened;
    return;
  }
  if (job.ino != 0) {
    // Its watch was added a moment ago, by path: if the path leads elsewhere now (renamed
    // away, another directory made in its place) this listing would be the other one's.
    sys::FileStat self;
    if (fs_.fstat(fd.get(), self) != 0 || self.ino != job.ino || self.dev != job.dir_dev) {
      job.moved = true;
      return;
    }
  }
  if (int err = fs_.read_dir(fd.get(), reader, entries); err != 0) {
    job.read_err = err;
    return;
  }
  job.entries.reserve(entries.size());
  for (const auto& e : entries) {
    DirListing::Entry out{static_cast<std::uint32_t>(job.names.size()),
                          static_cast<std::uint32_t>(e.name.size()), {}, true};
    job.names.append(e.name);
    job.names.push_back('\0');  // for the syscall
    if (!job.stat_files && e.type != sys::FileType::unknown && e.type != sys::FileType::dir) {
      out.st.type = e.type;
      out.st.ino = e.ino;
      out.st.dev = job.dir_dev;  // only directories can be mount points
      out.known = false;
    } else {
      if (fs_.stat_at(fd.get(), job.names.data() + out.name_off, out.st) != 0) {
        job.names.resize(out.name_off);
        continue;  // gone already
      }
    }
    job.entries.push_back(out);
  }
}

}  // namespace lookout::core
