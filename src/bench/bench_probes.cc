#include "bench/bench_probes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>

#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/md5.h"
#include "io/uring_ring.h"
#include "ha_sync/join_rel.h"

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

// The largest regular files seen by a scan (thread-safe).
class LargestFiles {
 public:
  LargestFiles(size_t keep, int64_t min_size) : keep_(keep), min_size_(min_size) {}
  void Offer(const std::string& rel, int64_t size) {
    if (keep_ == 0 || size < min_size_) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (heap_.size() == keep_ && heap_.top().first >= size) return;
    heap_.emplace(size, rel);
    if (heap_.size() > keep_) heap_.pop();
  }
  std::vector<SampleFile> Take() {
    std::vector<SampleFile> out;
    while (!heap_.empty()) {
      out.push_back({heap_.top().second, heap_.top().first});
      heap_.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  using Item = std::pair<int64_t, std::string>;
  const size_t keep_;
  const int64_t min_size_;
  std::mutex mu_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap_;
};

bool Skipped(const std::string& dir, const std::string& name, const std::vector<std::string>& skip) {
  return dir.empty() && std::find(skip.begin(), skip.end(), name) != skip.end();
}

// Directories still to list, shared by the threads of one scan.
class DirQueue {
 public:
  explicit DirQueue(const Bounds& bounds) : bounds_(bounds) { dirs_.push_back(""); }
  // The next directory to list; false when the walk is over (every
  // directory listed, or the bound reached). Marks the caller busy.
  bool Pop(std::string* rel) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (bounds_.Over()) {
        cut_ = true;
        cv_.notify_all();
        return false;
      }
      if (!dirs_.empty()) {
        *rel = std::move(dirs_.front());
        dirs_.pop_front();
        ++busy_;
        return true;
      }
      if (busy_ == 0 && !external_busy_) return false;
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }
  void Push(std::string rel) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(std::move(rel));
    cv_.notify_one();
  }
  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    --busy_;
    cv_.notify_all();
  }
  // The uring scan's ring thread may still produce directories.
  void SetExternalBusy(bool busy) {
    std::lock_guard<std::mutex> lock(mu_);
    external_busy_ = busy;
    cv_.notify_all();
  }
  bool Idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return dirs_.empty() && busy_ == 0;
  }
  bool cut() {
    std::lock_guard<std::mutex> lock(mu_);
    return cut_ || !dirs_.empty();
  }

 private:
  const Bounds& bounds_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> dirs_;
  unsigned busy_ = 0;
  bool external_busy_ = false;
  bool cut_ = false;
};

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

Measurement ScanWithThreads(int root_fd, unsigned in_flight, const Bounds& bounds,
                            const std::vector<std::string>& skip, LargestFiles* largest) {
  Measurement m;
  DirQueue queue(bounds);
  std::atomic<int64_t> entries{0}, dirs{0};
  std::mutex error_mu;
  std::string first_error;
  const Clock::time_point start = Clock::now();
  auto worker = [&] {
    std::string rel;
    std::vector<io::Entry> listed;
    while (queue.Pop(&rel)) {
      auto fd = OpenDir(root_fd, rel);
      Status s = fd.ok() ? io::ListDirectory(*fd, rel.empty() ? "." : rel, &listed) : fd.status();
      if (fd.ok()) ::close(*fd);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (first_error.empty()) first_error = s.message();
      } else {
        dirs.fetch_add(1);
        for (const io::Entry& e : listed) {
          if (Skipped(rel, e.name, skip)) continue;
          entries.fetch_add(1);
          if (e.type == io::FileType::kDir) queue.Push(JoinRel(rel, e.name));
          if (e.type == io::FileType::kFile) largest->Offer(JoinRel(rel, e.name), e.size);
        }
      }
      queue.Done();
    }
  };
  RunOnThreads(in_flight, [&](unsigned) { worker(); });
  m.seconds = SecondsSince(start);
  m.count = entries.load();
  m.complete = !queue.cut();
  if (m.count == 0 && !first_error.empty()) m.error = first_error;
  return m;
}

// io_uring scan: lister threads read directory names (getdents has no
// io_uring opcode), the calling thread keeps up to `in_flight` statx
// requests on the ring.
Measurement ScanWithUring(int root_fd, unsigned in_flight, const Bounds& bounds,
                          const std::vector<std::string>& skip, LargestFiles* largest) {
  Measurement m;
  auto ring = MeasurementRing(std::max(8u, in_flight), in_flight);
  if (!ring.ok()) {
    m.error = ring.status().message();
    return m;
  }
  const unsigned limit = std::min(in_flight, (*ring)->capacity());

  struct Dir {
    int fd = -1;
    std::string rel;
    ~Dir() {
      if (fd >= 0) ::close(fd);
    }
  };
  struct Name {
    std::shared_ptr<Dir> dir;
    std::string name;
  };
  std::mutex mu;  // guards names and listing_done
  std::condition_variable names_cv;
  std::deque<Name> names;
  constexpr size_t kMaxPendingNames = 65536;  // listers wait beyond this (bounded memory)
  DirQueue queue(bounds);
  queue.SetExternalBusy(true);
  std::string first_error;
  int64_t dirs_listed = 0;

  const Clock::time_point start = Clock::now();
  auto lister = [&] {
    std::string rel;
    while (queue.Pop(&rel)) {
      auto fd = OpenDir(root_fd, rel);
      auto dir = std::make_shared<Dir>();
      dir->rel = rel;
      Status s = fd.status();
      DIR* d = nullptr;
      if (fd.ok()) {
        dir->fd = *fd;
        const int list_fd = ::dup(*fd);
        d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
        if (d == nullptr) {
          s = Status::FromErrno(errno, "open directory", rel.empty() ? "." : rel);
          if (list_fd >= 0) ::close(list_fd);
        }
      }
      std::vector<Name> batch;
      while (d != nullptr) {
        struct dirent* de = ::readdir(d);
        if (de == nullptr) break;
        const char* n = de->d_name;
        if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
        if (Skipped(rel, n, skip)) continue;
        batch.push_back({dir, n});
      }
      if (d != nullptr) ::closedir(d);
      {
        std::unique_lock<std::mutex> lock(mu);
        if (!s.ok() && first_error.empty()) first_error = s.message();
        if (s.ok()) ++dirs_listed;
        names_cv.wait(lock, [&] { return names.size() < kMaxPendingNames || bounds.Over(); });
        for (Name& n : batch) names.push_back(std::move(n));
      }
      queue.Done();
    }
  };
  const unsigned listers = std::clamp(in_flight / 4, 1u, 8u);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < listers; ++i) threads.emplace_back(lister);

  struct Slot {
    Name name;
    struct statx stx;
  };
  std::vector<Slot> slots(limit);
  std::vector<uint32_t> free_slots;
  for (uint32_t i = 0; i < limit; ++i) free_slots.push_back(limit - 1 - i);
  std::vector<io::Completion> done;
  int64_t entries = 0;
  bool cut = false;
  for (;;) {
    const bool over = bounds.Over();
    cut = cut || over;
    bool queued = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      while (!over && !free_slots.empty() && !names.empty()) {
        const uint32_t i = free_slots.back();
        Slot& slot = slots[i];
        slot.name = std::move(names.front());
        names.pop_front();
        if (!(*ring)->QueueStatx(slot.name.dir->fd, slot.name.name.c_str(), AT_SYMLINK_NOFOLLOW,
                                 STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME, &slot.stx, i)) {
          names.push_front(std::move(slot.name));
          break;
        }
        free_slots.pop_back();
        queued = true;
      }
      if (queued) names_cv.notify_all();
    }
    if ((*ring)->in_flight() == 0) {
      if (over) break;
      // Nothing on the ring: finished when no lister has or will have names.
      bool names_empty;
      {
        std::lock_guard<std::mutex> lock(mu);
        names_empty = names.empty();
      }
      if (names_empty && queue.Idle()) {
        std::lock_guard<std::mutex> lock(mu);
        if (names.empty()) break;
      }
      if (names_empty) std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    done.clear();
    Status s = (*ring)->SubmitAndReap(1, &done);
    if (!s.ok()) {
      m.error = s.message();
      cut = true;
      break;
    }
    for (const io::Completion& c : done) {
      Slot& slot = slots[c.tag];
      if (c.res == 0) {
        ++entries;
        const std::string rel = JoinRel(slot.name.dir->rel, slot.name.name);
        if (S_ISDIR(slot.stx.stx_mode)) queue.Push(rel);
        if (S_ISREG(slot.stx.stx_mode)) largest->Offer(rel, static_cast<int64_t>(slot.stx.stx_size));
      }
      slot.name = Name();
      free_slots.push_back(static_cast<uint32_t>(c.tag));
    }
  }
  // Drain (on error or bound) before the names the requests point at go.
  DrainRing(ring->get());
  queue.SetExternalBusy(false);
  {
    std::lock_guard<std::mutex> lock(mu);
    names_cv.notify_all();
  }
  for (auto& t : threads) t.join();
  m.seconds = SecondsSince(start);
  m.count = entries;
  m.complete = !cut && !queue.cut();
  if (m.count == 0 && m.error.empty() && !first_error.empty()) m.error = first_error;
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

Measurement MeasureScan(int root_fd, Engine engine, unsigned in_flight, const Bounds& bounds,
                        const std::vector<std::string>& skip, size_t keep_largest,
                        int64_t min_sample_size, std::vector<SampleFile>* largest) {
  LargestFiles keeper(keep_largest, min_sample_size);
  Measurement m = engine == Engine::kUring ? ScanWithUring(root_fd, in_flight, bounds, skip, &keeper)
                                           : ScanWithThreads(root_fd, in_flight, bounds, skip, &keeper);
  m.phase = "scan";
  m.engine = EngineName(engine);
  m.param = in_flight;
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
