#include "io/uring_copier.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <initializer_list>
#include <thread>
#include <utility>

#include "ha_sync/text.h"
#include "ha_sync/unique_fd.h"
#include "io/dir_entry.h"
#include "io/file_ops.h"
#include "io/md5.h"
#include "io/temp_copy.h"

namespace ha_sync::io {

namespace {

constexpr uint64_t kWakeTag = 0;  // requests are tagged with their address, never 0

int64_t Ns(const struct statx_timestamp& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// copy_file_range of [off, off+len) at the same offset. *unsupported: the
// filesystem pair cannot do it (nothing was copied; write the bytes instead).
Status CopyRange(int in, int out, int64_t off, size_t len, const std::string& display,
                 bool* unsupported) {
  loff_t src_off = off, dst_off = off;
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::copy_file_range(in, &src_off, out, &dst_off, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (done == 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)) {
        *unsupported = true;
        return Status::Ok();
      }
      return Status::FromErrno(errno, "copy range of", display);
    }
    if (n == 0) {
      // The source ended before the bytes that were just hashed.
      return SourceChangedStatus(display);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<UringCopier>> UringCopier::Create(const UringCopierOptions& options) {
  std::unique_ptr<UringCopier> c(new UringCopier(options));
  const unsigned files = std::max(1u, options.files_in_flight);
  const unsigned depth = std::max(1u, options.queue_depth);
  // Each caller has at most `depth` requests (or 2 during opens/closes) in
  // flight; the completion queue is twice the submission queue.
  unsigned entries = 64;
  while (entries < files * std::max(depth, 2u) + 1 && entries < 4096) entries *= 2;
  auto ring = Ring::Create(entries);
  if (!ring.ok()) return ring.status();
  c->ring_ = std::move(*ring);
  Status s = c->ring_->SetMaxWorkers(files, files);
  if (!s.ok()) return s;

  size_t count = std::max<size_t>(static_cast<size_t>(files) * depth,
                                  options.large_file_bytes > 0
                                      ? static_cast<size_t>(options.large_files_at_once) * options.large_queue_depth
                                      : 0);
  count = std::min(count, std::max<size_t>(1, options.max_buffer_bytes / options.block_size));
  count = std::max<size_t>(count, 1);
  c->buffer_count_ = count;
  for (size_t i = count; i-- > 0;) c->free_.push_back(i);

  c->event_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (c->event_fd_ < 0) return Status::FromErrno(errno, "create eventfd for", "io_uring");
  c->thread_ = std::thread([p = c.get()] { p->RingLoop(); });
  return c;
}

UringCopier::~UringCopier() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    const uint64_t one = 1;
    if (::write(event_fd_, &one, sizeof one) < 0) {
      // The ring thread polls stopping_ on every completion; the write
      // cannot fail on an eventfd short of overflow.
    }
    thread_.join();
  }
  ring_.reset();
  if (event_fd_ >= 0) ::close(event_fd_);
}

char* UringCopier::BufferAt(size_t index) const {
  return registered_ ? ring_->buffer(index) : own_buffers_.get() + index * opt_.block_size;
}

bool UringCopier::QueueIo(Ring& ring, bool write, int fd, size_t index, size_t buf_offset,
                          unsigned len, uint64_t file_offset, uint64_t tag) const {
  const IoBuffer buf = registered_ ? IoBuffer::Fixed(index, buf_offset)
                                   : IoBuffer::Memory(BufferAt(index) + buf_offset);
  return ring.QueueIo(write ? IoDir::kWrite : IoDir::kRead, fd, buf, len, file_offset, tag);
}

void UringCopier::RingLoop() {
  Ring& ring = *ring_;
  bool wake_armed = ring.QueueIo(IoDir::kRead, event_fd_, IoBuffer::Memory(&event_buf_), sizeof event_buf_, 0, kWakeTag);
  std::vector<Request*> backlog;  // taken from pending_, not yet on the ring (ring full)
  std::vector<Completion> done;
  for (;;) {
    bool stopping, register_now;
    {
      std::lock_guard<std::mutex> lock(mu_);
      backlog.insert(backlog.end(), pending_.begin(), pending_.end());
      pending_.clear();
      stopping = stopping_;
      register_now = std::exchange(register_wanted_, false);
    }
    if (register_now) {
      // Here, on the ring's one submitting thread: a kernel that quiesces
      // the ring to register waits only for requests already submitted.
      const bool ok = ring.RegisterBuffers(buffer_count_, opt_.block_size).ok();
      std::lock_guard<std::mutex> lock(mu_);
      register_ok_ = ok;
      register_done_ = true;
      register_cv_.notify_all();
    }
    size_t queued = 0;
    while (queued < backlog.size() &&
           backlog[queued]->queue(ring, reinterpret_cast<uint64_t>(backlog[queued]))) {
      ++queued;
    }
    backlog.erase(backlog.begin(), backlog.begin() + static_cast<ptrdiff_t>(queued));
    if (stopping && !wake_armed && ring.in_flight() == 0 && backlog.empty()) return;
    done.clear();
    Status s = ring.SubmitAndReap(1, &done);
    if (!s.ok()) {
      // Submission itself failed (not a request): fail what is waiting so
      // no caller blocks forever, and retry.
      for (Request* r : backlog) {
        r->res = -EIO;
        std::lock_guard<std::mutex> lock(r->waiter->mu);
        r->waiter->done.push_back(r);
        r->waiter->cv.notify_one();
      }
      backlog.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (const Completion& c : done) {
      if (c.tag == kWakeTag) {
        wake_armed = false;
        std::lock_guard<std::mutex> lock(mu_);
        if (!stopping_) {
          wake_armed = ring.QueueIo(IoDir::kRead, event_fd_, IoBuffer::Memory(&event_buf_), sizeof event_buf_, 0, kWakeTag);
        }
        continue;
      }
      Request* r = reinterpret_cast<Request*>(c.tag);
      r->res = c.res;
      std::lock_guard<std::mutex> lock(r->waiter->mu);
      r->waiter->done.push_back(r);
      r->waiter->cv.notify_one();
    }
  }
}

void UringCopier::Submit(Request* r) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Requests pushed behind others are taken with them: the first
    // pusher's wake-up is still to be handled (the ring thread takes all of
    // pending_ on every pass), so only the first one writes the eventfd.
    wake = pending_.empty();
    pending_.push_back(r);
  }
  if (!wake) return;
  const uint64_t one = 1;
  if (::write(event_fd_, &one, sizeof one) < 0) {
    // Only an overflowing counter fails; the ring thread is awake then.
  }
}

UringCopier::Request* UringCopier::WaitOne(Waiter* w) {
  std::unique_lock<std::mutex> lock(w->mu);
  w->cv.wait(lock, [w] { return !w->done.empty(); });
  Request* r = w->done.front();
  w->done.erase(w->done.begin());
  return r;
}

bool UringCopier::TakeLargeFileTurn(const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> lock(large_mu_);
  const unsigned limit = std::max(1u, opt_.large_files_at_once);
  // A stop request is looked at every 100 ms while waiting.
  while (!large_cv_.wait_for(lock, std::chrono::milliseconds(100),
                             [&] { return large_turns_taken_ < limit; })) {
    if (CopyCancelled(cancel)) return false;
  }
  large_turns_peak_ = std::max(large_turns_peak_, ++large_turns_taken_);
  return true;
}

unsigned UringCopier::large_turns_peak() {
  std::lock_guard<std::mutex> lock(large_mu_);
  return large_turns_peak_;
}

void UringCopier::GiveBackLargeFileTurn() {
  {
    std::lock_guard<std::mutex> lock(large_mu_);
    --large_turns_taken_;
  }
  large_cv_.notify_one();
}

void UringCopier::MakePoolLocked() {
  if (pool_made_) return;
  // Registration pins the pool and counts against RLIMIT_MEMLOCK (unless
  // CAP_IPC_LOCK): when refused, the same pool is used with plain read/write.
  registered_ = opt_.register_buffers && RegisterOnRingThread();
  if (!registered_) own_buffers_.reset(new char[buffer_count_ * opt_.block_size]);
  pool_made_ = true;
}

bool UringCopier::RegisterOnRingThread() {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return false;
  register_wanted_ = true;
  const uint64_t one = 1;
  if (::write(event_fd_, &one, sizeof one) < 0) {
    // Only an overflowing counter fails; the ring thread is awake then.
  }
  register_cv_.wait(lock, [this] { return register_done_; });
  return register_ok_;
}

size_t UringCopier::AcquireFirst() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  MakePoolLocked();
  pool_cv_.wait(lock, [this] { return !free_.empty(); });
  const size_t i = free_.back();
  free_.pop_back();
  return i;
}

bool UringCopier::AcquireMore(size_t* index) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  MakePoolLocked();
  if (free_.empty()) return false;
  *index = free_.back();
  free_.pop_back();
  return true;
}

void UringCopier::Release(size_t index) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    free_.push_back(index);
  }
  pool_cv_.notify_one();
}

// One copy's requests on the ring, each batch submitted together and
// waited for on the calling thread. As temp_copy.h's CommitCalls it runs
// the commit's fsync, close and rename as ring requests.
class UringCopier::CopyRequests : public CommitCalls {
 public:
  explicit CopyRequests(UringCopier* copier) : copier_(copier) {}

  Waiter* waiter() { return &waiter_; }

  // Runs requests that were all submitted together and waits for all of them.
  void RunTogether(std::initializer_list<Request*> reqs) {
    for (Request* r : reqs) {
      r->waiter = &waiter_;
      copier_->Submit(r);
    }
    for (size_t i = 0; i < reqs.size(); ++i) WaitOne(&waiter_);
  }

  // Opens the source and creates the temp file at once (two round trips in
  // one); each result is the fd or -errno.
  void OpenBoth(int src_dirfd, const std::string& name, int dest_dirfd, const std::string& tmp,
                mode_t mode, int* in, int* dst) {
    struct open_how src_how = {};
    src_how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    struct open_how dst_how = {};
    dst_how.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    dst_how.mode = mode;
    Request open_src, open_dst;
    open_src.queue = [&](Ring& r, uint64_t tag) { return r.QueueOpenat2(src_dirfd, name.c_str(), &src_how, tag); };
    open_dst.queue = [&](Ring& r, uint64_t tag) { return r.QueueOpenat2(dest_dirfd, tmp.c_str(), &dst_how, tag); };
    RunTogether({&open_src, &open_dst});
    *in = open_src.res;
    *dst = open_dst.res;
  }

  // statx of the open fd: 0 or -errno.
  int Stat(int fd, struct statx* out) {
    Request stat;
    stat.queue = [&](Ring& r, uint64_t tag) {
      return r.QueueStatx(fd, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, out, tag);
    };
    RunTogether({&stat});
    return stat.res;
  }

  // The source is closed in the same batch as the temp file (Close below).
  void CloseWithTemp(UniqueFd* source) { source_ = source; }

  int Fsync(int fd) override {
    Request sync;
    sync.queue = [&](Ring& r, uint64_t tag) { return r.QueueFsync(fd, false, tag); };
    RunTogether({&sync});
    return sync.res;
  }

  int Close(int fd) override {
    Request close_dst;
    close_dst.queue = [&](Ring& r, uint64_t tag) { return r.QueueClose(fd, tag); };
    if (source_ == nullptr || source_->get() < 0) {
      RunTogether({&close_dst});
      return close_dst.res;
    }
    // A failed close of the source loses nothing: it was only read.
    Request close_in;
    close_in.queue = [in = source_->release()](Ring& r, uint64_t tag) { return r.QueueClose(in, tag); };
    RunTogether({&close_in, &close_dst});
    return close_dst.res;
  }

  int Rename(int dirfd, const std::string& from, const std::string& to, bool no_replace) override {
    Request rename;
    rename.queue = [&](Ring& r, uint64_t tag) {
      return r.QueuePathOp(PathOp::Rename(dirfd, from.c_str(), dirfd, to.c_str(), no_replace ? RENAME_NOREPLACE : 0),
                           tag);
    };
    RunTogether({&rename});
    // No rename flags on this file system (NFS): the blocking fallback.
    if (no_replace && (rename.res == -EINVAL || rename.res == -ENOSYS)) return CommitCalls::Rename(dirfd, from, to, true);
    return rename.res;
  }

 private:
  UringCopier* copier_;
  Waiter waiter_;
  UniqueFd* source_ = nullptr;
};

// The data of one copy: up to queue_depth chunks read ahead; hashed in
// offset order; written (unless all zeros) from the same buffer, or copied
// by the filesystem (CopyRange); a written chunk's buffer reads the next
// offset. Only the calling thread touches it; the ring thread only
// completes its requests.
class UringCopier::ChunkCopy {
 public:
  ChunkCopy(UringCopier* copier, Waiter* waiter, int in, int dst, int64_t size, unsigned depth,
            const CopyOptions& options, const std::string& display, Md5* md5)
      : copier_(copier), waiter_(waiter), in_(in), dst_(dst), size_(size), depth_(std::max(1u, depth)),
        bs_(static_cast<int64_t>(copier->opt_.block_size)), options_(options), display_(display), md5_(md5),
        server_copy_(copier->opt_.copy_file_range &&
                     !copier->server_copy_refused_.load(std::memory_order_relaxed)) {}

  // Copies the whole file; *total: the bytes hashed (and written).
  Status Run(int64_t* total) {
    AcquireBuffers();
    for (Chunk& c : chunks_) StartNext(c);
    while (in_flight_ > 0) {
      Request* r = WaitOne(waiter_);
      --in_flight_;
      Chunk* c = nullptr;
      for (Chunk& k : chunks_) if (&k.req == r) c = &k;
      const bool reissued = c->state == Chunk::kReading ? OnRead(*c, r->res) : OnWrite(*c, r->res);
      if (!reissued) HashReady();
    }
    for (const Chunk& c : chunks_) copier_->Release(c.buf);
    *total = hash_off_;
    return error_;
  }

 private:
  struct Chunk {
    size_t buf = 0;
    int64_t off = 0;
    unsigned len = 0;   // bytes asked for
    unsigned got = 0;   // bytes read so far (or written, while writing)
    enum State { kIdle, kReading, kRead, kWriting } state = kIdle;
    bool eof = false;   // the read hit end of file before len
    Request req;
  };

  // One buffer blocks until free; up to queue_depth - 1 more when free.
  void AcquireBuffers() {
    const int64_t chunks_needed = (size_ + bs_ - 1) / bs_;
    if (chunks_needed <= 0) return;
    const int64_t want = std::min<int64_t>(depth_, chunks_needed);
    chunks_.resize(static_cast<size_t>(want));
    chunks_[0].buf = copier_->AcquireFirst();
    size_t n = 1;
    while (static_cast<int64_t>(n) < want && copier_->AcquireMore(&chunks_[n].buf)) ++n;
    chunks_.resize(n);
  }

  void Issue(Chunk& c, bool write) {
    c.req.waiter = waiter_;
    const int fd = write ? dst_ : in_;
    c.req.queue = [this, &c, fd, write](Ring& r, uint64_t tag) {
      return copier_->QueueIo(r, write, fd, c.buf, c.got, c.len - c.got, static_cast<uint64_t>(c.off + c.got), tag);
    };
    c.state = write ? Chunk::kWriting : Chunk::kReading;
    ++in_flight_;
    copier_->Submit(&c.req);
  }

  // Gives the chunk the next offset to read, or leaves it idle.
  void StartNext(Chunk& c) {
    c.state = Chunk::kIdle;
    if (!error_.ok() || eof_ || next_off_ >= size_) return;
    c.off = next_off_;
    c.len = static_cast<unsigned>(std::min(bs_, size_ - next_off_));
    c.got = 0;
    c.eof = false;
    next_off_ += c.len;
    Issue(c, /*write=*/false);
  }

  // A read completed with `res`; true when the rest was asked for again.
  bool OnRead(Chunk& c, int32_t res) {
    if (res < 0) {
      if (error_.ok()) error_ = Status::FromErrno(-res, "read", display_);
      c.state = Chunk::kIdle;
    } else if (res == 0) {
      c.eof = true;  // the file shrank: what was read is all there is
      c.state = Chunk::kRead;
    } else {
      c.got += static_cast<unsigned>(res);
      if (c.got < c.len && error_.ok()) {
        Issue(c, /*write=*/false);  // a short read mid-file: read the rest
        return true;
      }
      c.state = Chunk::kRead;
    }
    return false;
  }

  // A write completed with `res`; true when nothing is to be hashed now
  // (the rest was asked for again, or the write failed).
  bool OnWrite(Chunk& c, int32_t res) {
    if (res < 0) {
      if (error_.ok()) error_ = Status::FromErrno(-res, "write", display_);
      c.state = Chunk::kIdle;
      return true;
    }
    c.got += static_cast<unsigned>(res);
    if (c.got < c.len && res > 0 && error_.ok()) {
      Issue(c, /*write=*/true);
      return true;
    }
    if (res == 0 && c.got < c.len && error_.ok()) error_ = Status::FromErrno(EIO, "write", display_);
    StartNext(c);
    return false;
  }

  // Hashes (and hands on) the chunks that are next in offset order.
  void HashReady() {
    for (bool progressed = true; progressed && error_.ok() && !eof_;) {
      progressed = false;
      for (Chunk& k : chunks_) {
        if (k.state != Chunk::kRead || k.off != hash_off_) continue;
        progressed = true;
        HashChunk(k);
        break;
      }
    }
  }

  void HashChunk(Chunk& k) {
    const char* data = copier_->BufferAt(k.buf);
    md5_->Update(data, k.got);
    hash_off_ += k.got;
    if (k.eof) eof_ = true;
    if (options_.block_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.block_delay_ms));
    }
    if (CopyCancelled(options_.cancel)) error_ = CopyCancelledStatus(display_);
    if (!error_.ok() || eof_ || AllZero(data, k.got)) {
      StartNext(k);  // a hole, or nothing more to do
      return;
    }
    if (server_copy_) {
      // The bytes just hashed are copied by the filesystem (server-side
      // on NFS 4.2) instead of being written from the buffer.
      bool unsupported = false;
      Status cs = CopyRange(in_, dst_, k.off, k.got, display_, &unsupported);
      if (!unsupported) {
        if (!cs.ok()) error_ = cs;
        StartNext(k);
        return;
      }
      server_copy_ = false;
      copier_->server_copy_refused_.store(true, std::memory_order_relaxed);
    }
    k.len = k.got;
    k.got = 0;
    Issue(k, /*write=*/true);
  }

  UringCopier* const copier_;
  Waiter* const waiter_;
  const int in_;
  const int dst_;
  const int64_t size_;
  const unsigned depth_;  // chunks in flight at most
  const int64_t bs_;
  const CopyOptions& options_;
  const std::string& display_;
  Md5* const md5_;
  bool server_copy_;
  std::vector<Chunk> chunks_;
  Status error_;
  int64_t next_off_ = 0;   // next offset to read
  int64_t hash_off_ = 0;   // next offset to hash
  bool eof_ = false;       // a read met the end of the file
  unsigned in_flight_ = 0;
};

Status UringCopier::Copy(int src_dirfd, int dest_dirfd, const std::string& name,
                         const std::string& display, const CopyOptions& options, CopyOutcome* out) {
  if (options.expected_size >= 0 && options.expected_size <= opt_.small_file_bytes) {
    return CopyFileAtomic(src_dirfd, dest_dirfd, name, display, options, out);
  }
  ring_copies_.fetch_add(1);
  CopyRequests ring(this);

  // The temp file is created before the source is stat'ed: with the listed
  // mode, which saves a chmod when the stat agrees.
  TempCopy temp(dest_dirfd, name, options.temp_tag, display);  // removed on every return but a commit
  const CreateMode create =
      CreateModeFor(options.expected_mode >= 0 ? static_cast<mode_t>(options.expected_mode) : 0600);
  int in_fd = -1, dst_fd = -1;
  ring.OpenBoth(src_dirfd, name, dest_dirfd, temp.temp_name(), create.mode, &in_fd, &dst_fd);
  UniqueFd in(in_fd >= 0 ? in_fd : -1);
  const Status created = temp.Adopt(dst_fd);
  if (in_fd < 0) return Status::FromErrno(-in_fd, "open source", display);
  if (!created.ok()) return created;

  struct statx before = {}, after = {};
  if (const int res = ring.Stat(in.get(), &before); res < 0) return Status::FromErrno(-res, "stat source", display);
  if (!S_ISREG(before.stx_mode)) {
    return Status::Error("source '" + EscapeForDisplay(display) + "' is no longer a regular file");
  }
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  CommitOptions commit;
  commit.owner_is_set = !ShouldPreserveOwner() || HasOwner(temp.fd(), before.stx_uid, before.stx_gid);

  Md5 md5;
  int64_t total = 0;
  const bool large = opt_.large_file_bytes > 0 && static_cast<int64_t>(before.stx_size) > opt_.large_file_bytes;
  if (large && !TakeLargeFileTurn(options.cancel)) return CopyCancelledStatus(display);
  Status copied;
  {
    ChunkCopy chunks(this, ring.waiter(), in.get(), temp.fd(), static_cast<int64_t>(before.stx_size),
                     large ? opt_.large_queue_depth : opt_.queue_depth, options, display, &md5);
    copied = chunks.Run(&total);
  }
  if (large) GiveBackLargeFileTurn();
  if (!copied.ok()) return copied;
  if (CopyCancelled(options.cancel)) return CopyCancelledStatus(display);

  if (const int res = ring.Stat(in.get(), &after); res < 0) return Status::FromErrno(-res, "stat source", display);
  if (before.stx_size != after.stx_size || Ns(before.stx_mtime) != Ns(after.stx_mtime) ||
      static_cast<int64_t>(after.stx_size) != total) {
    return SourceChangedStatus(display);
  }

  Entry source;
  source.name = name;
  source.type = FileType::kFile;
  source.size = total;
  source.mtime_ns = Ns(before.stx_mtime);
  source.atime_ns = Ns(before.stx_atime);
  source.mode = before.stx_mode & 07777;
  source.uid = before.stx_uid;
  source.gid = before.stx_gid;
  commit.mode_is_set = create.exact && options.expected_mode >= 0 &&
                       static_cast<mode_t>(options.expected_mode) == source.mode;
  commit.fsync = options.fsync;
  commit.cancel = options.cancel;
  commit.no_replace = options.no_replace;
  commit.replaces = options.replaces;
  ring.CloseWithTemp(&in);
  if (Status s = temp.Commit(source, commit, &ring); !s.ok()) return s;
  out->bytes = total;
  out->md5 = md5.FinishHex();
  out->source = std::move(source);
  return Status::Ok();
}

}  // namespace ha_sync::io
