#include "bench/bench_probes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <tuple>

#include "ha_sync/join_rel.h"
#include "ha_sync/unique_fd.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/md5.h"
#include "io/uring_ring.h"
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

Result<int> OpenDir(int root_fd, const std::string& rel) {
  if (rel.empty()) {
    const int fd = ::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open directory", ".");
    return fd;
  }
  return io::OpenDirBeneath(root_fd, rel);
}

// Opens a sample file for reading without following symlinks, without
// touching its atime where the kernel allows that (owner or CAP_FOWNER).
Result<int> OpenSample(int root_fd, const std::string& rel) {
  const size_t slash = rel.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  auto dir_fd = OpenDir(root_fd, dir);
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
struct DirListing {
  std::shared_ptr<UniqueFd> fd;
  Status status;
  std::vector<io::Entry> entries;
};

// A directory on the scan's stack: where to open it from, and its listing
// once the pool was asked for it (the walk's PendingDir, one side).
struct PendingDir {
  std::shared_ptr<UniqueFd> parent;  // null: the parent is the root
  std::string rel;
  std::string name;
  std::shared_ptr<std::future<DirListing>> listing;
};

// Lists `p` on the pool, as Walker::StartListing does; a listing that
// starts after the bound lists nothing (the scan no longer waits for it).
void StartListing(pipeline::ThreadPool* pool, int root_fd, PendingDir* p, const Bounds& bounds) {
  auto promise = std::make_shared<std::promise<DirListing>>();
  p->listing = std::make_shared<std::future<DirListing>>(promise->get_future());
  const int parent_fd = p->parent ? p->parent->get() : root_fd;
  pool->Submit([promise, parent = p->parent, parent_fd, rel = p->rel, name = p->name, &bounds] {
    DirListing l;
    if (bounds.Over()) {
      l.status = Status::Error("'" + rel + "' not listed: the time bound passed");
    } else {
      l.fd = std::make_shared<UniqueFd>();
      l.status = io::OpenAndListChild(parent_fd, name, rel, l.fd.get(), &l.entries);
    }
    promise->set_value(std::move(l));
  });
}

// The walk's scan of one root (see MeasureScan): the root listed on this
// thread, then depth first, the next `lookahead` directories of the stack
// listed ahead on the pool.
Measurement ScanLikeTheWalk(int root_fd, unsigned workers, const Bounds& bounds,
                            const std::vector<std::string>& skip, LargestFiles* largest) {
  Measurement m;
  const pipeline::ListingShape shape = pipeline::ListingShapeFor(workers);
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
      if (e.type == io::FileType::kDir) stack.push_back({l.fd, std::move(child), std::move(e.name), nullptr});
    }
    std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(base), stack.end());
  };
  bool cut = false;
  const Clock::time_point start = Clock::now();
  {
    DirListing root;
    root.status = io::ListDirectory(root_fd, ".", &root.entries);
    take("", std::move(root));
    pipeline::ThreadPool pool(shape.threads, shape.lookahead);
    while (!stack.empty()) {
      if (bounds.Over()) {
        cut = true;
        break;
      }
      for (size_t i = stack.size(), n = 0; i-- > 0 && n < shape.lookahead; ++n) {
        if (!stack[i].listing) StartListing(&pool, root_fd, &stack[i], bounds);
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
  size_t count() const { return count_; }
  bool Queue(bool write, int fd, size_t i, unsigned len, uint64_t off, uint64_t tag) {
    if (registered_) {
      return ring_->QueueIo(write ? io::IoDir::kWrite : io::IoDir::kRead, fd, io::IoBuffer::Fixed(i), len, off, tag);
    }
    return ring_->QueueIo(write ? io::IoDir::kWrite : io::IoDir::kRead, fd, io::IoBuffer::Memory(At(i)), len, off, tag);
  }

 private:
  io::Ring* ring_;
  size_t size_;
  size_t count_ = 0;
  bool registered_ = false;
  std::unique_ptr<AlignedBuffer> own_;
  std::vector<size_t> free_;
};

// Tags of the io_uring read/write loops: slot in the high half, buffer (or
// kFsyncTag) in the low half.
constexpr uint64_t kFsyncTag = 0xffffffffu;
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
        if (!buffers.Queue(false, a.fd, buf, len, static_cast<uint64_t>(a.next), Tag(s, buf))) {
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

Measurement WriteWithThreads(int scratch_fd, unsigned in_flight, size_t block_size, int64_t file_bytes,
                             int64_t max_bytes, const Bounds& bounds) {
  Measurement m;
  std::atomic<int64_t> budget{max_bytes}, bytes{0}, count{0};
  std::atomic<bool> cut{false};
  std::mutex error_mu;
  const Clock::time_point start = Clock::now();
  auto worker = [&](unsigned t) {
    AlignedBuffer buf(block_size);
    if (buf.data == nullptr) return;
    FillRandom(buf.data, block_size);
    for (int64_t n = 0; !cut.load(); ++n) {
      const std::string name = ScratchName("w", t, n);
      const int fd = ::openat(scratch_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      Status s;
      if (fd < 0) s = Status::FromErrno(errno, "create", name);
      int64_t written = 0;
      while (fd >= 0 && written < file_bytes) {
        if (bounds.Over() || budget.fetch_sub(static_cast<int64_t>(block_size)) <= 0) {
          cut = true;
          break;
        }
        const ssize_t w = ::pwrite(fd, buf.data, std::min<int64_t>(block_size, file_bytes - written), written);
        if (w <= 0) {
          s = Status::FromErrno(w < 0 ? errno : ENOSPC, "write", name);
          break;
        }
        written += w;
      }
      if (fd >= 0) {
        if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno(errno, "fsync", name);
        ::close(fd);
        ::unlinkat(scratch_fd, name.c_str(), 0);
      }
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (m.error.empty()) m.error = s.message();
        cut = true;
        break;
      }
      bytes.fetch_add(written);
      count.fetch_add(1);
    }
  };
  RunOnThreads(in_flight, worker);
  m.seconds = SecondsSince(start);
  m.bytes = bytes.load();
  m.count = count.load();
  m.complete = m.error.empty() && m.bytes >= max_bytes;
  return m;
}

Measurement WriteWithUring(int scratch_fd, unsigned in_flight, unsigned queue_depth, size_t block_size,
                           int64_t file_bytes, int64_t max_bytes, const Bounds& bounds) {
  Measurement m;
  auto ring = MeasurementRing(std::max(8u, in_flight * queue_depth + in_flight), in_flight);
  if (!ring.ok()) {
    m.error = ring.status().message();
    return m;
  }
  RingBuffers buffers(ring->get(), in_flight * queue_depth, block_size);
  if (!buffers.ok()) {
    m.error = "no memory for the write buffers";
    return m;
  }
  for (size_t i = 0; i < buffers.count(); ++i) FillRandom(buffers.At(i), block_size);
  struct Active {
    int fd = -1;
    std::string name;
    int64_t next = 0;     // bytes queued
    int64_t written = 0;  // bytes completed
    unsigned outstanding = 0;
    bool syncing = false;
    bool failed = false;
  };
  std::vector<Active> active(std::max(1u, in_flight));
  int64_t budget = max_bytes, serial = 0;
  bool cut = false;
  std::vector<io::Completion> done;
  const Clock::time_point start = Clock::now();
  auto finish = [&](Active& a) {
    ::close(a.fd);
    ::unlinkat(scratch_fd, a.name.c_str(), 0);
    if (!a.failed) {
      m.bytes += a.written;
      ++m.count;
    }
    a = Active();
  };
  for (;;) {
    const bool over = bounds.Over() || budget <= 0 || !m.error.empty();
    cut = cut || over;
    bool any_open = false;
    for (size_t s = 0; s < active.size(); ++s) {
      Active& a = active[s];
      if (a.fd < 0 && !over) {
        a.name = ScratchName("u", static_cast<unsigned>(s), serial++);
        a.fd = ::openat(scratch_fd, a.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (a.fd < 0) {
          m.error = Status::FromErrno(errno, "create", a.name).message();
          a = Active();
          continue;
        }
      }
      if (a.fd < 0) continue;
      any_open = true;
      size_t buf;
      while (!a.syncing && !a.failed && !over && a.next < file_bytes && a.outstanding < queue_depth &&
             budget > 0 && buffers.Take(&buf)) {
        const unsigned len = static_cast<unsigned>(std::min<int64_t>(block_size, file_bytes - a.next));
        if (!buffers.Queue(true, a.fd, buf, len, static_cast<uint64_t>(a.next), Tag(s, buf))) {
          buffers.Give(buf);
          break;
        }
        a.next += len;
        budget -= len;
        ++a.outstanding;
      }
      // A file is done when its writes are (all of them, or the bound cut it): fsync it.
      if (!a.syncing && a.outstanding == 0 && (a.next >= file_bytes || over || a.failed)) {
        if (a.failed || a.written == 0) {
          finish(a);
          continue;
        }
        if ((*ring)->QueueFsync(a.fd, false, Tag(s, kFsyncTag))) a.syncing = true;
      }
    }
    if ((*ring)->in_flight() == 0 && !any_open) break;
    if ((*ring)->in_flight() == 0) continue;
    done.clear();
    if (Status s = (*ring)->SubmitAndReap(1, &done); !s.ok()) {
      m.error = s.message();
      break;
    }
    for (const io::Completion& c : done) {
      Active& a = active[c.tag >> 32];
      if ((c.tag & 0xffffffffu) == kFsyncTag) {
        if (c.res < 0) {
          a.failed = true;
          if (m.error.empty()) m.error = Status::FromErrno(-c.res, "fsync", a.name).message();
        }
        finish(a);
        continue;
      }
      buffers.Give(c.tag & 0xffffffffu);
      --a.outstanding;
      if (c.res <= 0) {
        a.failed = true;
        if (m.error.empty()) m.error = Status::FromErrno(c.res < 0 ? -c.res : ENOSPC, "write", a.name).message();
      } else {
        a.written += c.res;
      }
    }
  }
  DrainRing(ring->get());
  for (Active& a : active) {
    if (a.fd >= 0) finish(a);
  }
  m.seconds = SecondsSince(start);
  m.complete = m.error.empty() && !cut;
  return m;
}

}  // namespace

const char* EngineName(Engine engine) { return engine == Engine::kUring ? "uring" : "threads"; }

bool Bounds::Over() const {
  return (stop != nullptr && stop->load()) || Clock::now() >= deadline;
}

Measurement MeasureScan(int root_fd, unsigned workers, const Bounds& bounds,
                        const std::vector<std::string>& skip, size_t keep_largest,
                        int64_t min_sample_size, std::vector<SampleFile>* largest) {
  LargestFiles keeper(keep_largest, min_sample_size);
  Measurement m = ScanLikeTheWalk(root_fd, workers, bounds, skip, &keeper);
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

Measurement MeasureWrite(int scratch_fd, Engine engine, unsigned in_flight, unsigned queue_depth,
                         size_t block_size, int64_t file_bytes, int64_t max_bytes,
                         const Bounds& bounds) {
  Measurement m = engine == Engine::kUring
                      ? WriteWithUring(scratch_fd, in_flight, queue_depth, block_size, file_bytes, max_bytes, bounds)
                      : WriteWithThreads(scratch_fd, in_flight, block_size, file_bytes, max_bytes, bounds);
  m.phase = "write";
  m.root = "dest";
  m.engine = EngineName(engine);
  m.param = in_flight;
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
    Status s;
    int dir = -1;
    if (::mkdirat(scratch_fd, dir_name.c_str(), 0700) != 0) {
      s = Status::FromErrno(errno, "create", dir_name);
    } else if ((dir = ::openat(scratch_fd, dir_name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
      s = Status::FromErrno(errno, "open", dir_name);
    }
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
