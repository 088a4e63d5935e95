#include "bench/bench_probes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <tuple>

#include "ha_sync/join_rel.h"
#include "ha_sync/unique_fd.h"
#include "io/dir_reader.h"
#include "io/file_copier.h"
#include "io/file_ops.h"
#include "io/md5.h"
#include "io/uring_ring.h"
#include "pipeline/copier_factory.h"
#include "pipeline/engine.h"
#include "pipeline/prefetch_budget.h"
#include "pipeline/thread_pool.h"
#include "pipeline/walker.h"

namespace ha_sync::bench {

namespace {

// The registered pool of one measurement stays within this, as the copier's does.
constexpr size_t kMaxBufferBytes = 64u << 20;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Incompressible bytes (xorshift64*), so no filesystem or wire compression
// flatters the write rate.
void FillRandom(char* buf, size_t size) {
  uint64_t x = io::RandomU64() | 1;
  for (size_t i = 0; i + 8 <= size; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const uint64_t v = x * 2685821657736338717ull;
    std::memcpy(buf + i, &v, 8);
  }
}

struct AlignedBuffer {
  explicit AlignedBuffer(size_t size) {
    if (posix_memalign(reinterpret_cast<void**>(&data), 4096, std::max<size_t>(size, 4096)) != 0) {
      data = nullptr;
    }
  }
  ~AlignedBuffer() { std::free(data); }
  char* data = nullptr;
};

// The largest regular files seen by a scan (used by its walk thread only).
class LargestFiles {
 public:
  LargestFiles(size_t keep, int64_t min_size) : keep_(keep), min_size_(min_size) {}
  void Offer(const std::string& rel, int64_t size, int mode) {
    if (keep_ == 0 || size < min_size_) return;
    if (heap_.size() == keep_ && std::get<0>(heap_.top()) >= size) return;
    heap_.emplace(size, rel, mode);
    if (heap_.size() > keep_) heap_.pop();
  }
  std::vector<SampleFile> Take() {
    std::vector<SampleFile> out;
    while (!heap_.empty()) {
      const auto& [size, rel, mode] = heap_.top();
      out.push_back({rel, size, mode});
      heap_.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  using Item = std::tuple<int64_t, std::string, int>;  // size first: the heap's order
  const size_t keep_;
  const int64_t min_size_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap_;
};

bool Skipped(const std::string& dir, const std::string& name, const std::vector<std::string>& skip) {
  return dir.empty() && std::find(skip.begin(), skip.end(), name) != skip.end();
}

// The ring of one io_uring measurement, with io-wq limited to the requests
// in flight as the io_uring executor does (uring_copier.h).
Result<std::unique_ptr<io::Ring>> MeasurementRing(unsigned entries, unsigned in_flight) {
  auto ring = io::Ring::Create(entries);
  if (ring.ok()) (*ring)->SetMaxWorkers(in_flight, 0);
  return ring;
}

// Waits for every request still on the ring (after an error or the bound),
// before the memory the requests point at goes away.
void DrainRing(io::Ring* ring) {
  std::vector<io::Completion> done;
  while (ring->in_flight() > 0) {
    done.clear();
    if (!ring->SubmitAndReap(1, &done).ok()) break;
  }
}

// Runs fn(i) on `count` threads (at least one) and joins them.
template <typename Fn>
void RunOnThreads(unsigned count, Fn fn) {
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < std::max(1u, count); ++i) threads.emplace_back(fn, i);
  for (auto& t : threads) t.join();
}

// Opens a sample file for reading without following symlinks, without
// touching its atime where the kernel allows that (owner or CAP_FOWNER).
Result<int> OpenSample(int root_fd, const std::string& rel) {
  std::string dir, name;
  SplitRel(rel, &dir, &name);
  auto dir_fd = io::OpenDirBeneath(root_fd, dir);
  if (!dir_fd.ok()) return dir_fd.status();
  int fd = ::openat(*dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
  if (fd < 0 && errno == EPERM) fd = ::openat(*dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  const int err = errno;
  ::close(*dir_fd);
  if (fd < 0) return Status::FromErrno(err, "open", rel);
  return fd;
}

// Drops the cached pages of a file so the next reader starts cold.
void DropCache(int fd) { ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); }

// One directory's listing, made on the listing pool. Its fd stays open
// while a subdirectory still waits to be opened through it, as the walk's
// DirNode keeps it (pipeline/dir_node.h).
struct DirListing;
using ListingFuture = std::shared_ptr<std::future<DirListing>>;
struct DirListing {
  std::shared_ptr<UniqueFd> fd;
  Status status;
  std::vector<io::Entry> entries;
  // Subdirectory listings the task started ahead of the scan, by name, as
  // the walk's listing tasks do (pipeline/prefetch_budget.h).
  std::map<std::string, ListingFuture> children;
  std::shared_ptr<void> budget_token;
};

// A directory on the scan's stack: where to open it from, and its listing
// once the pool was asked for it (the walk's PendingDir, one side).
struct PendingDir {
  std::shared_ptr<UniqueFd> parent;  // null: the parent is the root
  std::string rel;
  std::string name;
  ListingFuture listing;
};

// The listing pool of one scan, and the prefetch budget its tasks share.
struct ScanPool {
  pipeline::ThreadPool* pool;
  pipeline::PrefetchBudget* prefetch;
  const Bounds* bounds;
  const std::vector<std::string>* skip;
};

DirListing ListOne(const ScanPool& sp, int parent_fd, const std::string& rel, const std::string& name);

// Starts listing parent/name on the pool; `token` set: a prefetch, which
// only a free queue place takes (null when refused).
ListingFuture StartListingTask(const ScanPool& sp, std::shared_ptr<UniqueFd> parent, int parent_fd,
                               std::string rel, std::string name, std::shared_ptr<void> token) {
  auto promise = std::make_shared<std::promise<DirListing>>();
  auto future = std::make_shared<std::future<DirListing>>(promise->get_future());
  const bool prefetch = token != nullptr;
  std::function<void()> task = [promise, sp, parent, parent_fd, rel, name, token]() mutable {
    DirListing l = ListOne(sp, parent_fd, rel, name);
    l.budget_token = std::move(token);
    promise->set_value(std::move(l));
  };
  if (!prefetch) {
    sp.pool->Submit(std::move(task));
    return future;
  }
  return sp.pool->TrySubmit(std::move(task), 1) ? future : nullptr;
}

// Lists parent_fd/name, then starts its subdirectories' listings while the
// budget lasts (Walker::PrefetchChildren, one side); after the bound, lists
// nothing (the scan no longer waits for it).
DirListing ListOne(const ScanPool& sp, int parent_fd, const std::string& rel, const std::string& name) {
  DirListing l;
  if (sp.bounds->Over()) {
    l.status = Status::Error("not listed: the time bound passed");
    return l;
  }
  l.fd = std::make_shared<UniqueFd>();
  l.status = io::OpenAndListChild(parent_fd, name, rel, l.fd.get(), &l.entries);
  if (!l.status.ok()) return l;
  for (const io::Entry& e : l.entries) {
    if (e.type != io::FileType::kDir || Skipped(rel, e.name, *sp.skip)) continue;
    std::shared_ptr<void> token = sp.prefetch->TryTake();
    if (!token) break;
    ListingFuture child = StartListingTask(sp, l.fd, l.fd->get(), JoinRel(rel, e.name), e.name, std::move(token));
    if (!child) break;
    l.children.emplace(e.name, std::move(child));
  }
  return l;
}

// Lists `p` on the pool, as Walker::StartListing does.
void StartListing(const ScanPool& sp, int root_fd, PendingDir* p) {
  p->listing = StartListingTask(sp, p->parent, p->parent ? p->parent->get() : root_fd, p->rel, p->name, nullptr);
}

// The walk's scan of one root (see MeasureScan): the root listed on this
// thread, then depth first, the next `lookahead` directories of the stack
// listed ahead on the pool.
Measurement ScanLikeTheWalk(int root_fd, const pipeline::ListingShape& shape, const Bounds& bounds,
                            const std::vector<std::string>& skip, LargestFiles* largest) {
  Measurement m;
  m.param = static_cast<int64_t>(shape.threads);
  std::vector<PendingDir> stack;
  std::string first_error;
  // Counts a listing's entries and stacks its subdirectories so that they
  // are visited in name order, as the walk visits them.
  auto take = [&](const std::string& rel, DirListing l) {
    if (!l.status.ok()) {
      if (first_error.empty()) first_error = l.status.message();
      return;
    }
    const size_t base = stack.size();
    for (io::Entry& e : l.entries) {
      if (Skipped(rel, e.name, skip)) continue;
      ++m.count;
      std::string child = JoinRel(rel, e.name);
      if (e.type == io::FileType::kFile) largest->Offer(child, e.size, static_cast<int>(e.mode));
      if (e.type != io::FileType::kDir) continue;
      ListingFuture prefetched;
      if (auto it = l.children.find(e.name); it != l.children.end()) prefetched = std::move(it->second);
      stack.push_back({l.fd, std::move(child), std::move(e.name), std::move(prefetched)});
    }
    std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(base), stack.end());
  };
  bool cut = false;
  const Clock::time_point start = Clock::now();
  {
    DirListing root;
    root.status = io::ListDirectory(root_fd, ".", &root.entries);
    take("", std::move(root));
    pipeline::PrefetchBudget prefetch(shape.prefetch);  // outlives the pool's listings
    pipeline::ThreadPool pool(shape.threads, shape.lookahead);
    const ScanPool sp{&pool, &prefetch, &bounds, &skip};
    while (!stack.empty()) {
      if (bounds.Over()) {
        cut = true;
        break;
      }
      for (size_t i = stack.size(), n = 0; i-- > 0 && n < shape.lookahead; ++n) {
        if (!stack[i].listing) StartListing(sp, root_fd, &stack[i]);
      }
      PendingDir p = std::move(stack.back());
      stack.pop_back();
      take(p.rel, p.listing->get());
    }
    stack.clear();
  }  // the pool waits for the listings it still has (past the bound they list nothing)
  m.seconds = SecondsSince(start);
  m.complete = !cut;
  if (m.count == 0 && !first_error.empty()) m.error = first_error;
  return m;
}

Measurement ReadWithThreads(int root_fd, const std::vector<SampleFile>& files, unsigned in_flight,
                            size_t block_size, int64_t max_bytes, const Bounds& bounds) {
  Measurement m;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> budget{max_bytes}, bytes{0}, count{0};
  std::atomic<bool> cut{false};
  std::mutex error_mu;
  const Clock::time_point start = Clock::now();
  auto worker = [&] {
    AlignedBuffer buf(block_size);
    if (buf.data == nullptr) return;
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      auto fd = OpenSample(root_fd, files[i].rel_path);
      if (!fd.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (m.error.empty()) m.error = fd.status().message();
        continue;
      }
      DropCache(*fd);
      for (int64_t off = 0;;) {
        if (bounds.Over() || budget.fetch_sub(static_cast<int64_t>(block_size)) <= 0) {
          cut = true;
          break;
        }
        const ssize_t n = ::pread(*fd, buf.data, block_size, off);
        if (n <= 0) break;
        bytes.fetch_add(n);
        off += n;
      }
      DropCache(*fd);
      ::close(*fd);
      count.fetch_add(1);
      if (cut) break;
    }
  };
  RunOnThreads(in_flight, [&](unsigned) { worker(); });
  m.seconds = SecondsSince(start);
  m.bytes = bytes.load();
  m.count = count.load();
  m.complete = !cut.load();
  if (m.bytes > 0) m.error.clear();
  return m;
}

// The buffer pool of one io_uring measurement: registered with the ring
// when the locked-memory limit allows, else plain read/write on it.
class RingBuffers {
 public:
  RingBuffers(io::Ring* ring, size_t wanted, size_t block_size) : ring_(ring), size_(block_size) {
    count_ = std::clamp<size_t>(kMaxBufferBytes / block_size, 1, std::max<size_t>(wanted, 1));
    registered_ = ring->RegisterBuffers(count_, block_size).ok();
    if (!registered_) own_ = std::make_unique<AlignedBuffer>(count_ * block_size);
    for (size_t i = 0; i < count_; ++i) free_.push_back(count_ - 1 - i);
  }
  bool ok() const { return registered_ || (own_ && own_->data != nullptr); }
  char* At(size_t i) const { return registered_ ? ring_->buffer(i) : own_->data + i * size_; }
  bool Take(size_t* i) {
    if (free_.empty()) return false;
    *i = free_.back();
    free_.pop_back();
    return true;
  }
  void Give(size_t i) { free_.push_back(i); }
  bool QueueRead(int fd, size_t i, unsigned len, uint64_t off, uint64_t tag) {
    const io::IoBuffer buffer = registered_ ? io::IoBuffer::Fixed(i) : io::IoBuffer::Memory(At(i));
    return ring_->QueueIo(io::IoDir::kRead, fd, buffer, len, off, tag);
  }

 private:
  io::Ring* ring_;
  size_t size_;
  size_t count_ = 0;
  bool registered_ = false;
  std::unique_ptr<AlignedBuffer> own_;
  std::vector<size_t> free_;
};

// Tags of the io_uring read loop: slot in the high half, buffer in the low half.
uint64_t Tag(size_t slot, uint64_t low) { return (static_cast<uint64_t>(slot) << 32) | low; }

Measurement ReadWithUring(int root_fd, const std::vector<SampleFile>& files, unsigned in_flight,
                          unsigned queue_depth, size_t block_size, int64_t max_bytes,
                          const Bounds& bounds) {
  Measurement m;
  auto ring = MeasurementRing(std::max(8u, in_flight * queue_depth), in_flight);
  if (!ring.ok()) {
    m.error = ring.status().message();
    return m;
  }
  RingBuffers buffers(ring->get(), in_flight * queue_depth, block_size);
  if (!buffers.ok()) {
    m.error = "no memory for the read buffers";
    return m;
  }
  struct Active {
    int fd = -1;
    int64_t size = 0;
    int64_t next = 0;
    unsigned outstanding = 0;
    bool ended = false;
  };
  std::vector<Active> active(std::max(1u, in_flight));
  size_t next_file = 0;
  int64_t budget = max_bytes;
  bool cut = false;
  std::vector<io::Completion> done;
  const Clock::time_point start = Clock::now();
  for (;;) {
    const bool over = bounds.Over() || budget <= 0;
    cut = cut || over;
    bool any_open = false;
    for (size_t s = 0; s < active.size(); ++s) {
      Active& a = active[s];
      if (a.fd >= 0 && a.outstanding == 0 && (a.ended || a.next >= a.size || over)) {
        DropCache(a.fd);
        ::close(a.fd);
        a = Active();
        ++m.count;
      }
      while (a.fd < 0 && !over && next_file < files.size()) {
        auto fd = OpenSample(root_fd, files[next_file].rel_path);
        a.size = files[next_file++].size;
        if (!fd.ok()) {
          if (m.error.empty()) m.error = fd.status().message();
          continue;
        }
        a.fd = *fd;
        DropCache(a.fd);
      }
      size_t buf;
      while (a.fd >= 0 && !over && !a.ended && a.next < a.size && a.outstanding < queue_depth &&
             budget > 0 && buffers.Take(&buf)) {
        const unsigned len = static_cast<unsigned>(std::min<int64_t>(block_size, a.size - a.next));
        if (!buffers.QueueRead(a.fd, buf, len, static_cast<uint64_t>(a.next), Tag(s, buf))) {
          buffers.Give(buf);
          break;
        }
        a.next += len;
        budget -= len;
        ++a.outstanding;
      }
      any_open = any_open || a.fd >= 0;
    }
    if ((*ring)->in_flight() == 0 && !any_open) break;
    done.clear();
    if (Status s = (*ring)->SubmitAndReap(1, &done); !s.ok()) {
      m.error = s.message();
      break;
    }
    for (const io::Completion& c : done) {
      Active& a = active[c.tag >> 32];
      buffers.Give(c.tag & 0xffffffffu);
      --a.outstanding;
      if (c.res <= 0) {
        a.ended = true;  // error or the file shrank
        if (c.res < 0 && m.error.empty()) m.error = Status::FromErrno(-c.res, "read", "sample file").message();
      } else {
        m.bytes += c.res;
      }
    }
  }
  DrainRing(ring->get());
  for (Active& a : active) {
    if (a.fd >= 0) ::close(a.fd);
  }
  m.seconds = SecondsSince(start);
  m.complete = !cut;
  if (m.bytes > 0) m.error.clear();
  return m;
}

std::string ScratchName(const char* prefix, unsigned thread, int64_t n) {
  return std::string(prefix) + std::to_string(thread) + "-" + std::to_string(n);
}

// Sets `cancel` once the bound is over: the copiers poll a flag between
// blocks, not a deadline, and a copy in progress must end with the
// measurement.
class CancelAtBound {
 public:
  CancelAtBound(const Bounds& bounds, std::atomic<bool>* cancel)
      : thread_([this, &bounds, cancel] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!done_) {
            if (bounds.Over()) {
              cancel->store(true);
              return;
            }
            cv_.wait_for(lock, std::chrono::milliseconds(10));
          }
        }) {}
  ~CancelAtBound() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Copies one sample file into dest_dir_fd with `copier`, as a sync copies a
// file, lets `inspect` see the copy, then removes it. *bytes: the copy's
// size. The source's directory is opened here (one open more than a sync,
// whose walk has it open already).
Status CopyOne(io::FileCopier& copier, int src_root_fd, const SampleFile& f, int dest_dir_fd,
               const std::string& dest_dir_name, io::CopyOptions options, const CopyInspector& inspect,
               int64_t* bytes) {
  std::string dir, name;
  SplitRel(f.rel_path, &dir, &name);
  auto src_dir = io::OpenDirBeneath(src_root_fd, dir);
  if (!src_dir.ok()) return src_dir.status();
  const UniqueFd src_dir_fd(*src_dir);
  options.expected_size = f.size;
  options.expected_mode = f.mode;
  io::CopyOutcome out;
  if (Status s = copier.Copy(src_dir_fd.get(), dest_dir_fd, name, f.rel_path, options, &out); !s.ok()) return s;
  *bytes = out.bytes;
  if (inspect) inspect(dest_dir_fd, name, f);
  return io::RemoveEntry(dest_dir_fd, name, false, dest_dir_name + "/" + name);
}

// Makes and opens the folder `name` under scratch_fd.
Result<int> MakeScratchDir(int scratch_fd, const std::string& name) {
  if (Status s = io::MakeDir(scratch_fd, name, name); !s.ok()) return s;
  return io::OpenChildDir(scratch_fd, name, name);
}

// Drops the cached pages of files[0, count), read by the copies, so the
// next measurement starts cold and the bench leaves nothing cached.
void DropSampleCaches(int root_fd, const std::vector<SampleFile>& files, size_t count) {
  for (size_t i = 0; i < std::min(count, files.size()); ++i) {
    auto fd = OpenSample(root_fd, files[i].rel_path);
    if (!fd.ok()) continue;
    DropCache(*fd);
    ::close(*fd);
  }
}

}  // namespace

const char* EngineName(Engine engine) { return engine == Engine::kUring ? "uring" : "threads"; }

bool Bounds::Over() const {
  return (stop != nullptr && stop->load()) || Clock::now() >= deadline;
}

Measurement MeasureScan(int root_fd, const pipeline::ListingShape& shape, const Bounds& bounds,
                        const std::vector<std::string>& skip, size_t keep_largest,
                        int64_t min_sample_size, std::vector<SampleFile>* largest) {
  LargestFiles keeper(keep_largest, min_sample_size);
  Measurement m = ScanLikeTheWalk(root_fd, shape, bounds, skip, &keeper);
  m.phase = "scan";
  if (largest != nullptr) *largest = keeper.Take();
  return m;
}

Measurement MeasureRead(int root_fd, const std::vector<SampleFile>& files, Engine engine,
                        unsigned in_flight, unsigned queue_depth, size_t block_size,
                        int64_t max_bytes, const Bounds& bounds) {
  Measurement m = engine == Engine::kUring
                      ? ReadWithUring(root_fd, files, in_flight, queue_depth, block_size, max_bytes, bounds)
                      : ReadWithThreads(root_fd, files, in_flight, block_size, max_bytes, bounds);
  m.phase = "read";
  m.root = "src";
  m.engine = EngineName(engine);
  m.param = in_flight;
  return m;
}

Measurement MeasureCopy(int src_root_fd, const std::vector<SampleFile>& files, int scratch_fd,
                        Engine engine, const CopySettings& settings, int64_t max_bytes,
                        const Bounds& bounds, const CopyInspector& inspect) {
  Measurement m;
  m.phase = "copy";
  m.root = "dest";
  m.engine = EngineName(engine);
  m.param = settings.workers;
  if (files.empty()) {
    m.error = "no non-empty source file found (in the part scanned)";
    return m;
  }
  // The copier a sync with these settings would run (pipeline/copier_factory.h).
  pipeline::EngineOptions eo;
  eo.io_uring = engine == Engine::kUring;
  eo.workers = settings.workers;
  eo.queue_depth = settings.queue_depth;
  eo.block_size = settings.block_size;
  eo.copy_file_range = settings.copy_file_range;
  eo.fsync = settings.fsync;
  auto copier = pipeline::MakeCopier(eo, src_root_fd, scratch_fd);
  if (!copier.ok()) {
    m.error = copier.status().message();
    return m;
  }
  std::atomic<bool> cancel{false};
  io::CopyOptions options;
  options.block_size = settings.block_size;
  options.fsync = settings.fsync;
  options.cancel = &cancel;
  std::atomic<size_t> next{0};
  std::atomic<int64_t> budget{max_bytes}, bytes{0}, count{0};
  std::atomic<bool> over_budget{false}, cut{false};
  std::mutex error_mu;
  std::string first_error;
  auto fail = [&](const Status& s) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = s.message();
  };
  const Clock::time_point start = Clock::now();
  // Each worker copies into a folder of its own: the kernel serialises
  // creates and renames within one directory, and sample files of the same
  // name from different source folders must not meet.
  auto worker = [&](unsigned t) {
    const std::string dir_name = ScratchName("c", t, 0);
    auto dir = MakeScratchDir(scratch_fd, dir_name);
    if (!dir.ok()) {
      fail(dir.status());
      return;
    }
    const UniqueFd dir_fd(*dir);
    for (size_t i; (i = next.fetch_add(1)) < files.size();) {
      if (cancel.load() || bounds.Over()) {  // no new copy past the bound, whenever the watch notices it
        cancel = true;
        cut = true;
        break;
      }
      if (budget.fetch_sub(files[i].size) <= 0) {
        over_budget = true;
        break;
      }
      int64_t copied = 0;
      const Status s = CopyOne(**copier, src_root_fd, files[i], dir_fd.get(), dir_name, options, inspect, &copied);
      if (s.err() == ECANCELED) {  // the bound; the copier removed its temp file
        cut = true;
        break;
      }
      if (!s.ok()) {
        fail(s);  // e.g. the file vanished since the scan: the others are still copied
        continue;
      }
      bytes.fetch_add(copied);
      count.fetch_add(1);
    }
    ::unlinkat(scratch_fd, dir_name.c_str(), AT_REMOVEDIR);  // what is left goes with the scratch folder
  };
  {
    const CancelAtBound cancel_at_bound(bounds, &cancel);
    RunOnThreads(settings.workers, worker);
  }
  m.seconds = SecondsSince(start);
  DropSampleCaches(src_root_fd, files, next.load());
  m.bytes = bytes.load();
  m.count = count.load();
  m.complete = !cut.load() && !over_budget.load();
  if (m.count == 0) {
    m.error = !first_error.empty() ? first_error
                                   : "no copy finished within the time bound (the largest sample file is " +
                                         std::to_string(files.front().size) + " bytes)";
  }
  return m;
}

Measurement MeasureMetadata(int scratch_fd, unsigned in_flight, const Bounds& bounds) {
  Measurement m;
  m.phase = "metadata";
  m.root = "dest";
  m.engine = "threads";
  m.param = in_flight;
  std::atomic<int64_t> ops{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  const Clock::time_point start = Clock::now();
  // Each thread works in a folder of its own: the kernel serialises creates
  // and removes within one directory, which would hide the concurrency the
  // server allows (a sync spreads its files over directories too).
  auto worker = [&](unsigned t) {
    char data[4096];
    FillRandom(data, sizeof data);
    const std::string dir_name = ScratchName("m", t, 0);
    Result<int> made = MakeScratchDir(scratch_fd, dir_name);
    Status s = made.status();
    const int dir = made.ok() ? *made : -1;
    for (int64_t n = 0; s.ok() && !failed.load() && !bounds.Over(); ++n) {
      const std::string name = ScratchName("f", t, n);
      const std::string shown = dir_name + "/" + name;
      const int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        s = Status::FromErrno(errno, "create", shown);
        break;
      }
      if (::write(fd, data, sizeof data) != static_cast<ssize_t>(sizeof data)) {
        s = Status::FromErrno(errno, "write", shown);
      }
      if (::close(fd) != 0 && s.ok()) s = Status::FromErrno(errno, "close", shown);
      if (::unlinkat(dir, name.c_str(), 0) != 0 && s.ok()) s = Status::FromErrno(errno, "remove", shown);
      if (s.ok()) ops.fetch_add(1);
    }
    if (dir >= 0) {
      ::close(dir);
      ::unlinkat(scratch_fd, dir_name.c_str(), AT_REMOVEDIR);
    }
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (m.error.empty()) m.error = s.message();
      failed = true;
    }
  };
  RunOnThreads(in_flight, worker);
  m.seconds = SecondsSince(start);
  m.count = ops.load();
  m.complete = m.error.empty();
  return m;
}

Measurement MeasureMd5(unsigned threads, size_t block_size, int64_t max_bytes, const Bounds& bounds) {
  Measurement m;
  m.phase = "md5";
  m.param = threads;
  std::atomic<int64_t> budget{max_bytes}, bytes{0};
  std::atomic<bool> cut{false};
  const Clock::time_point start = Clock::now();
  auto worker = [&] {
    AlignedBuffer buf(block_size);
    if (buf.data == nullptr) return;
    FillRandom(buf.data, block_size);
    io::Md5 md5;
    // At least one block per thread whatever the deadline: filling the
    // buffer may use up a short bound on a loaded machine, and a rate of
    // zero would be no measurement at all.
    bool first = true;
    while (first || !bounds.Over()) {
      first = false;
      if (budget.fetch_sub(static_cast<int64_t>(block_size)) <= 0) return;
      md5.Update(buf.data, block_size);
      bytes.fetch_add(static_cast<int64_t>(block_size));
    }
    cut = true;
    (void)md5.FinishHex();
  };
  RunOnThreads(threads, [&](unsigned) { worker(); });
  m.seconds = SecondsSince(start);
  m.bytes = bytes.load();
  m.count = m.bytes / static_cast<int64_t>(block_size);
  m.complete = !cut.load();
  return m;
}

}  // namespace ha_sync::bench
