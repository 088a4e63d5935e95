#include "io/uring_copier.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>

#include "ha_sync/text.h"
#include "io/dir_entry.h"
#include "io/file_ops.h"
#include "io/md5.h"

namespace ha_sync::io {

namespace {

constexpr uint64_t kWakeTag = 0;  // requests are tagged with their address, never 0

bool AllZero(const char* p, size_t n) {
  if (n == 0) return true;
  for (size_t i = 0; i < n && i < 16; ++i) if (p[i] != 0) return false;
  return n <= 16 || std::memcmp(p, p + 16, n - 16) == 0;
}

int64_t Ns(const struct statx_timestamp& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

bool Cancelled(const CopyOptions& o) {
  return o.cancel != nullptr && o.cancel->load(std::memory_order_relaxed);
}

Status CancelledStatus(const std::string& display) {
  return Status::Error("copy of '" + EscapeForDisplay(display) + "' aborted: run is stopping", ECANCELED);
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
      return Status::Error("source '" + EscapeForDisplay(display) +
                           "' changed during copy (size or mtime moved); copy discarded, "
                           "the next run retries");
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

  size_t count = static_cast<size_t>(files) * depth;
  count = std::min(count, std::max<size_t>(1, options.max_buffer_bytes / options.block_size));
  count = std::max<size_t>(count, 1);
  c->buffer_count_ = count;
  // Registration pins the pool and counts against RLIMIT_MEMLOCK (unless
  // CAP_IPC_LOCK): when refused, the same pool is used with plain read/write.
  c->registered_ = options.register_buffers && c->ring_->RegisterBuffers(count, options.block_size).ok();
  if (!c->registered_) c->own_buffers_.reset(new char[count * options.block_size]);
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
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      backlog.insert(backlog.end(), pending_.begin(), pending_.end());
      pending_.clear();
      stopping = stopping_;
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

size_t UringCopier::AcquireFirst() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  pool_cv_.wait(lock, [this] { return !free_.empty(); });
  const size_t i = free_.back();
  free_.pop_back();
  return i;
}

bool UringCopier::AcquireMore(size_t* index) {
  std::lock_guard<std::mutex> lock(pool_mu_);
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

Status UringCopier::Copy(int src_dirfd, int dest_dirfd, const std::string& name,
                         const std::string& display, const CopyOptions& options, CopyOutcome* out) {
  if (options.expected_size >= 0 && options.expected_size <= opt_.small_file_bytes) {
    return CopyFileAtomic(src_dirfd, dest_dirfd, name, display, options, out);
  }
  ring_copies_.fetch_add(1);
  Waiter waiter;
  // Runs requests that were all submitted together and waits for all of them.
  auto run = [&](std::initializer_list<Request*> reqs) {
    for (Request* r : reqs) {
      r->waiter = &waiter;
      Submit(r);
    }
    for (size_t i = 0; i < reqs.size(); ++i) WaitOne(&waiter);
  };

  // Open the source and create the temp file at once (two round trips in one).
  const std::string tmp = MakeSyncTempName(name, TaggedRandom(options.temp_tag));
  struct open_how src_how = {};
  src_how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
  struct open_how dst_how = {};
  dst_how.flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  const CreateMode create =
      CreateModeFor(options.expected_mode >= 0 ? static_cast<mode_t>(options.expected_mode) : 0600);
  dst_how.mode = create.mode;
  Request open_src, open_dst;
  open_src.queue = [&](Ring& r, uint64_t tag) { return r.QueueOpenat2(src_dirfd, name.c_str(), &src_how, tag); };
  open_dst.queue = [&](Ring& r, uint64_t tag) { return r.QueueOpenat2(dest_dirfd, tmp.c_str(), &dst_how, tag); };
  run({&open_src, &open_dst});
  const int in = open_src.res;
  const int dst = open_dst.res;
  auto cleanup = [&](bool unlink_temp) {
    if (in >= 0) ::close(in);
    if (dst >= 0) ::close(dst);
    if (unlink_temp && dst >= 0) ::unlinkat(dest_dirfd, tmp.c_str(), 0);
  };
  if (in < 0) {
    cleanup(true);
    return Status::FromErrno(-in, "open source", display);
  }
  if (dst < 0) {
    cleanup(false);
    return Status::FromErrno(-dst, "create temp file for", display);
  }
  auto fail = [&](Status s) {
    cleanup(true);
    return s;
  };

  struct statx before = {}, after = {};
  const unsigned mask = STATX_BASIC_STATS;
  Request stat_before;
  stat_before.queue = [&](Ring& r, uint64_t tag) {
    return r.QueueStatx(in, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, mask, &before, tag);
  };
  run({&stat_before});
  if (stat_before.res < 0) return fail(Status::FromErrno(-stat_before.res, "stat source", display));
  if (!S_ISREG(before.stx_mode)) {
    return fail(Status::Error("source '" + EscapeForDisplay(display) + "' is no longer a regular file"));
  }
  ::posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
  const bool owner_is_set = !ShouldPreserveOwner() || HasOwner(dst, before.stx_uid, before.stx_gid);

  // Chunked data: up to queue_depth chunks read ahead; hashed in offset
  // order; written (unless all zeros) from the same buffer; a written
  // chunk's buffer reads the next offset.
  const int64_t size = static_cast<int64_t>(before.stx_size);
  const int64_t bs = static_cast<int64_t>(opt_.block_size);
  struct Chunk {
    size_t buf = 0;
    int64_t off = 0;
    unsigned len = 0;   // bytes asked for
    unsigned got = 0;   // bytes read so far (or written, while writing)
    enum State { kIdle, kReading, kRead, kWriting } state = kIdle;
    bool eof = false;   // the read hit end of file before len
    Request req;
  };
  const int64_t chunks_needed = (size + bs - 1) / bs;
  std::vector<Chunk> chunks;
  Md5 md5;
  Status error;
  int64_t next_off = 0;   // next offset to read
  int64_t hash_off = 0;   // next offset to hash
  bool eof = false;       // a read met the end of the file
  unsigned in_flight = 0;
  if (chunks_needed > 0) {
    const int64_t want = std::min<int64_t>(std::max(1u, opt_.queue_depth), chunks_needed);
    chunks.resize(static_cast<size_t>(want));
    chunks[0].buf = AcquireFirst();
    size_t n = 1;
    while (static_cast<int64_t>(n) < want && AcquireMore(&chunks[n].buf)) ++n;
    chunks.resize(n);
  }
  auto issue_read = [&](Chunk& c) {
    c.req.waiter = &waiter;
    c.req.queue = [this, &c, in](Ring& r, uint64_t tag) {
      return QueueIo(r, false, in, c.buf, c.got, c.len - c.got, static_cast<uint64_t>(c.off + c.got), tag);
    };
    c.state = Chunk::kReading;
    ++in_flight;
    Submit(&c.req);
  };
  auto start_next = [&](Chunk& c) {
    c.state = Chunk::kIdle;
    if (!error.ok() || eof || next_off >= size) return;
    c.off = next_off;
    c.len = static_cast<unsigned>(std::min(bs, size - next_off));
    c.got = 0;
    c.eof = false;
    next_off += c.len;
    issue_read(c);
  };
  auto issue_write = [&](Chunk& c) {
    c.req.queue = [this, &c, dst](Ring& r, uint64_t tag) {
      return QueueIo(r, true, dst, c.buf, c.got, c.len - c.got, static_cast<uint64_t>(c.off + c.got), tag);
    };
    c.state = Chunk::kWriting;
    ++in_flight;
    Submit(&c.req);
  };
  bool server_copy = opt_.copy_file_range && !server_copy_refused_.load(std::memory_order_relaxed);
  for (Chunk& c : chunks) start_next(c);
  while (in_flight > 0) {
    Request* r = WaitOne(&waiter);
    --in_flight;
    Chunk* c = nullptr;
    for (Chunk& k : chunks) if (&k.req == r) c = &k;
    if (c->state == Chunk::kReading) {
      if (r->res < 0) {
        if (error.ok()) error = Status::FromErrno(-r->res, "read", display);
        c->state = Chunk::kIdle;
      } else if (r->res == 0) {
        c->eof = true;  // the file shrank: what was read is all there is
        c->state = Chunk::kRead;
      } else {
        c->got += static_cast<unsigned>(r->res);
        if (c->got < c->len && error.ok()) {
          issue_read(*c);  // a short read mid-file: read the rest
          continue;
        }
        c->state = Chunk::kRead;
      }
    } else if (c->state == Chunk::kWriting) {
      if (r->res < 0) {
        if (error.ok()) error = Status::FromErrno(-r->res, "write", display);
        c->state = Chunk::kIdle;
        continue;
      }
      c->got += static_cast<unsigned>(r->res);
      if (c->got < c->len && r->res > 0 && error.ok()) {
        issue_write(*c);
        continue;
      }
      if (r->res == 0 && c->got < c->len && error.ok()) {
        error = Status::FromErrno(EIO, "write", display);
      }
      start_next(*c);
    }
    // Hash (and write) the chunks that are next in offset order.
    for (bool progressed = true; progressed && error.ok() && !eof;) {
      progressed = false;
      for (Chunk& k : chunks) {
        if (k.state != Chunk::kRead || k.off != hash_off) continue;
        progressed = true;
        md5.Update(BufferAt(k.buf), k.got);
        hash_off += k.got;
        if (k.eof) eof = true;
        if (options.block_delay_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(options.block_delay_ms));
        }
        if (Cancelled(options)) error = CancelledStatus(display);
        if (!error.ok() || eof || AllZero(BufferAt(k.buf), k.got)) {
          start_next(k);  // a hole, or nothing more to do
        } else if (server_copy) {
          // The bytes just hashed are copied by the filesystem (server-side
          // on NFS 4.2) instead of being written from the buffer.
          bool unsupported = false;
          Status cs = CopyRange(in, dst, k.off, k.got, display, &unsupported);
          if (unsupported) {
            server_copy = false;
            server_copy_refused_.store(true, std::memory_order_relaxed);
            k.len = k.got;
            k.got = 0;
            issue_write(k);
          } else {
            if (!cs.ok()) error = cs;
            start_next(k);
          }
        } else {
          k.len = k.got;
          k.got = 0;
          issue_write(k);
        }
        break;
      }
    }
  }
  for (const Chunk& c : chunks) Release(c.buf);
  if (!error.ok()) return fail(error);
  if (Cancelled(options)) return fail(CancelledStatus(display));
  const int64_t total = hash_off;

  Request stat_after;
  stat_after.queue = [&](Ring& r, uint64_t tag) {
    return r.QueueStatx(in, "", AT_EMPTY_PATH | AT_STATX_SYNC_AS_STAT, mask, &after, tag);
  };
  run({&stat_after});
  if (stat_after.res < 0) return fail(Status::FromErrno(-stat_after.res, "stat source", display));
  const int64_t mtime_before = Ns(before.stx_mtime);
  if (before.stx_size != after.stx_size || mtime_before != Ns(after.stx_mtime) ||
      static_cast<int64_t>(after.stx_size) != total) {
    return fail(Status::Error("source '" + EscapeForDisplay(display) +
                              "' changed during copy (size or mtime moved); copy discarded, "
                              "the next run retries"));
  }

  Entry source;
  source.name = name;
  source.type = FileType::kFile;
  source.size = total;
  source.mtime_ns = mtime_before;
  source.atime_ns = Ns(before.stx_atime);
  source.mode = before.stx_mode & 07777;
  source.uid = before.stx_uid;
  source.gid = before.stx_gid;
  const bool mode_is_set = create.exact && options.expected_mode >= 0 &&
                           static_cast<mode_t>(options.expected_mode) == source.mode;
  Status s = FinishTempFile(dst, source, /*written_end=*/-1, mode_is_set, owner_is_set, display);
  if (!s.ok()) return fail(s);
  if (options.fsync) {
    Request sync;
    sync.queue = [&](Ring& r, uint64_t tag) { return r.QueueFsync(dst, false, tag); };
    run({&sync});
    if (sync.res < 0) return fail(Status::FromErrno(-sync.res, "fsync", display));
  }
  // Close both and rename: the close of the temp file reports late write
  // errors (NFS), so it must succeed before the rename.
  Request close_in, close_dst;
  close_in.queue = [&](Ring& r, uint64_t tag) { return r.QueueClose(in, tag); };
  close_dst.queue = [&](Ring& r, uint64_t tag) { return r.QueueClose(dst, tag); };
  run({&close_in, &close_dst});
  if (close_dst.res < 0) {
    ::unlinkat(dest_dirfd, tmp.c_str(), 0);
    return Status::FromErrno(-close_dst.res, "close", display);
  }
  if (Cancelled(options)) {
    ::unlinkat(dest_dirfd, tmp.c_str(), 0);
    return CancelledStatus(display);
  }
  Request rename;
  rename.queue = [&](Ring& r, uint64_t tag) {
    return r.QueuePathOp(PathOp::Rename(dest_dirfd, tmp.c_str(), dest_dirfd, name.c_str(), 0), tag);
  };
  run({&rename});
  if (rename.res < 0) {
    ::unlinkat(dest_dirfd, tmp.c_str(), 0);
    return Status::FromErrno(-rename.res, "rename into place", display);
  }
  out->bytes = total;
  out->md5 = md5.FinishHex();
  out->source = std::move(source);
  return Status::Ok();
}

}  // namespace ha_sync::io
