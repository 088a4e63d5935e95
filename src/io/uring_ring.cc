#include "io/uring_ring.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <cerrno>

namespace ha_sync::io {

Result<std::unique_ptr<Ring>> Ring::Create(unsigned entries) {
  std::unique_ptr<Ring> r(new Ring);
  r->ring_ = std::make_unique<io_uring>();
  struct io_uring_params params = {};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = entries * 2;
  const int rc = io_uring_queue_init_params(entries, r->ring_.get(), &params);
  if (rc < 0) {
    r->ring_.reset();
    return Status::FromErrno(-rc, "set up", "io_uring");
  }
  r->capacity_ = params.cq_entries;
  return r;
}

Ring::~Ring() {
  if (!ring_) return;
  // The kernel may still write into buffers of operations in flight: wait
  // for them before the memory goes.
  std::vector<Completion> drain;
  while (in_flight_ > 0 && SubmitAndReap(1, &drain).ok()) drain.clear();
  ReleaseBuffers();
  io_uring_queue_exit(ring_.get());
}

Status Ring::SetMaxWorkers(unsigned bounded, unsigned unbounded, unsigned* prev_bounded,
                           unsigned* prev_unbounded) {
  unsigned values[2] = {bounded, unbounded};
  const int rc = io_uring_register_iowq_max_workers(ring_.get(), values);
  if (rc < 0) return Status::FromErrno(-rc, "limit io-wq workers of", "io_uring");
  if (prev_bounded != nullptr) *prev_bounded = values[0];
  if (prev_unbounded != nullptr) *prev_unbounded = values[1];
  return Status::Ok();
}

void Ring::ReleaseBuffers() {
  if (buffers_ == nullptr) return;
  io_uring_unregister_buffers(ring_.get());
  ::munmap(buffers_, buffer_size_ * buffer_count_);
  buffers_ = nullptr;
  buffer_size_ = buffer_count_ = 0;
}

Status Ring::RegisterBuffers(size_t count, size_t size) {
  ReleaseBuffers();
  if (count == 0 || size == 0) return Status::Ok();
  const size_t page = 4096;
  size = (size + page - 1) / page * page;
  void* mem = ::mmap(nullptr, count * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return Status::FromErrno(errno, "allocate registered buffers for", "io_uring");
  std::vector<struct iovec> iov(count);
  for (size_t i = 0; i < count; ++i) {
    iov[i].iov_base = static_cast<char*>(mem) + i * size;
    iov[i].iov_len = size;
  }
  const int rc = io_uring_register_buffers(ring_.get(), iov.data(), static_cast<unsigned>(count));
  if (rc < 0) {
    ::munmap(mem, count * size);
    return Status::FromErrno(-rc, "register buffers with", "io_uring");
  }
  buffers_ = static_cast<char*>(mem);
  buffer_size_ = size;
  buffer_count_ = count;
  return Status::Ok();
}

io_uring_sqe* Ring::NextSqe() {
  if (in_flight_ >= capacity_) return nullptr;
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (sqe == nullptr) {
    // The submission queue is full of entries not yet handed over: hand
    // them over (the completion queue has room, in_flight_ < capacity_).
    if (io_uring_submit(ring_.get()) < 0) return nullptr;
    sqe = io_uring_get_sqe(ring_.get());
    if (sqe == nullptr) return nullptr;
  }
  ++in_flight_;
  return sqe;
}

template <typename Prep>
bool Ring::QueueWith(uint64_t tag, Prep prep) {
  io_uring_sqe* sqe = NextSqe();
  if (sqe == nullptr) return false;
  prep(sqe);
  sqe->user_data = tag;
  return true;
}

bool Ring::QueueStatx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out,
                      uint64_t tag) {
  return QueueWith(tag, [&](io_uring_sqe* sqe) { io_uring_prep_statx(sqe, dirfd, path, flags, mask, out); });
}

bool Ring::QueueOpenat2(int dirfd, const char* path, const struct open_how* how, uint64_t tag) {
  return QueueWith(tag, [&](io_uring_sqe* sqe) {
    io_uring_prep_openat2(sqe, dirfd, path, const_cast<struct open_how*>(how));
  });
}

bool Ring::QueueIo(IoDir dir, int fd, IoBuffer buf, unsigned len, uint64_t file_offset,
                   uint64_t tag) {
  const bool write = dir == IoDir::kWrite;
  if (buf.data != nullptr) {
    return QueueWith(tag, [&](io_uring_sqe* sqe) {
      char* p = static_cast<char*>(buf.data) + buf.offset;
      if (write) {
        io_uring_prep_write(sqe, fd, p, len, file_offset);
      } else {
        io_uring_prep_read(sqe, fd, p, len, file_offset);
      }
    });
  }
  if (buf.index >= buffer_count_ || buf.offset + len > buffer_size_) return false;
  return QueueWith(tag, [&](io_uring_sqe* sqe) {
    char* p = buffer(buf.index) + buf.offset;
    const int index = static_cast<int>(buf.index);
    if (write) {
      io_uring_prep_write_fixed(sqe, fd, p, len, file_offset, index);
    } else {
      io_uring_prep_read_fixed(sqe, fd, p, len, file_offset, index);
    }
  });
}

bool Ring::QueueClose(int fd, uint64_t tag) {
  return QueueWith(tag, [&](io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); });
}

bool Ring::QueueFsync(int fd, bool datasync, uint64_t tag) {
  return QueueWith(tag, [&](io_uring_sqe* sqe) {
    io_uring_prep_fsync(sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
  });
}

bool Ring::QueuePathOp(const PathOp& op, uint64_t tag) {
  return QueueWith(tag, [&](io_uring_sqe* sqe) {
    switch (op.kind) {
      case PathOp::Kind::kRename:
        io_uring_prep_renameat(sqe, op.dirfd, op.path, op.dirfd2, op.path2, op.flags);
        break;
      case PathOp::Kind::kUnlink:
        io_uring_prep_unlinkat(sqe, op.dirfd, op.path, static_cast<int>(op.flags));
        break;
      case PathOp::Kind::kMkdir:
        io_uring_prep_mkdirat(sqe, op.dirfd, op.path, op.mode);
        break;
      case PathOp::Kind::kSymlink:
        io_uring_prep_symlinkat(sqe, op.path2, op.dirfd, op.path);
        break;
    }
  });
}

Status Ring::SubmitAndReap(unsigned min_complete, std::vector<Completion>* out) {
  if (min_complete > in_flight_) min_complete = in_flight_;
  for (;;) {
    const int rc = min_complete > 0 ? io_uring_submit_and_wait(ring_.get(), min_complete)
                                    : io_uring_submit(ring_.get());
    if (rc >= 0) break;
    if (rc == -EINTR) continue;
    // EBUSY/EAGAIN: the kernel wants completions reaped first; fall through
    // and reap what is there (the caller calls again for the rest).
    if (rc == -EBUSY || rc == -EAGAIN) break;
    return Status::FromErrno(-rc, "submit to", "io_uring");
  }
  struct io_uring_cqe* cqe;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(ring_.get(), head, cqe) {
    out->push_back({cqe->user_data, cqe->res});
    ++seen;
  }
  io_uring_cq_advance(ring_.get(), seen);
  in_flight_ -= seen;
  return Status::Ok();
}

}  // namespace ha_sync::io
