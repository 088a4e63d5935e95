// One io_uring instance: queue file operations, submit them in batches,
// collect their completions. The building block of the io_uring executor.
//
// Operations are queued with a caller-chosen 64-bit tag and complete in any
// order; a Completion carries the tag and the result exactly as the
// corresponding syscall would return it (>= 0 on success, -errno on
// failure), so callers turn results into text with Status::FromErrno like
// any other syscall.
//
// Lifetime rule: every pointer handed to a Queue* call (paths, statx and
// open_how structures, caller-owned buffers) must stay valid until that operation's completion
// has been reaped; the kernel may read or write it until then.
//
// Back-pressure: at most capacity() operations are in flight (the size of
// the completion queue, so completions are never dropped); a Queue* call
// returns false at that limit and the caller reaps before queuing more.
//
// io-wq: on filesystems that cannot complete a request without blocking
// (NFS for nearly everything, local filesystems for statx/openat/rename/...)
// the kernel hands the request to its io-wq worker threads. SetMaxWorkers()
// bounds them explicitly (IORING_REGISTER_IOWQ_MAX_WORKERS), because the
// kernel default follows the CPU count and RLIMIT_NPROC, not what an NFS
// server can take.
//
// Thread-safety: a Ring belongs to one thread; none of its methods may be
// called concurrently.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ha_sync/status.h"

struct io_uring;
struct io_uring_sqe;

namespace ha_sync::io {

struct Completion {
  uint64_t tag = 0;
  int32_t res = 0;  // the syscall's return value, or -errno
};

enum class IoDir { kRead, kWrite };

// The memory of a read or write: registered buffer `index` at `offset`
// (read/write fixed: pinned once instead of mapped per request), or memory
// the caller owns (when buffers could not be registered, and for reading
// an eventfd).
struct IoBuffer {
  static IoBuffer Fixed(size_t index, size_t offset = 0) { return {nullptr, index, offset}; }
  static IoBuffer Memory(void* data) { return {data, 0, 0}; }
  void* data;    // nullptr: registered buffer `index`
  size_t index;
  size_t offset;
};

// One path operation, as the syscall of the same name takes it.
struct PathOp {
  enum class Kind { kRename, kUnlink, kMkdir, kSymlink };
  // renameat2(olddirfd, oldpath, newdirfd, newpath, flags).
  static PathOp Rename(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                       unsigned flags) {
    return {Kind::kRename, olddirfd, oldpath, newdirfd, newpath, flags, 0};
  }
  // unlinkat(dirfd, path, flags); AT_REMOVEDIR for directories.
  static PathOp Unlink(int dirfd, const char* path, int flags) {
    return {Kind::kUnlink, dirfd, path, -1, nullptr, static_cast<unsigned>(flags), 0};
  }
  static PathOp Mkdir(int dirfd, const char* path, mode_t mode) {
    return {Kind::kMkdir, dirfd, path, -1, nullptr, 0, mode};
  }
  // symlinkat(target, newdirfd, linkpath): `path` is the link, `path2` its target.
  static PathOp Symlink(const char* target, int newdirfd, const char* linkpath) {
    return {Kind::kSymlink, newdirfd, linkpath, -1, target, 0, 0};
  }
  Kind kind;
  int dirfd;
  const char* path;
  int dirfd2;         // kRename: the new directory
  const char* path2;  // kRename: the new path; kSymlink: the target
  unsigned flags;
  mode_t mode;
};

class Ring {
 public:
  // A ring with `entries` submission slots (rounded up to a power of two by
  // the kernel) and twice as many completion slots. Fails with the errno of
  // io_uring_setup (see uring_probe.h for what refusals mean).
  static Result<std::unique_ptr<Ring>> Create(unsigned entries);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Limits io-wq workers of this ring (per NUMA node): `bounded` serve
  // regular-file I/O and metadata operations, `unbounded` serve work that
  // may block indefinitely. 0 keeps a limit as it is. The previous limits
  // are returned through the optional out parameters.
  Status SetMaxWorkers(unsigned bounded, unsigned unbounded, unsigned* prev_bounded = nullptr,
                       unsigned* prev_unbounded = nullptr);

  // Registers `count` page-aligned buffers of `size` bytes each for
  // read/write fixed (pinned once instead of mapped per request).
  // Replaces buffers registered earlier; none may be in use.
  Status RegisterBuffers(size_t count, size_t size);
  char* buffer(size_t index) const { return buffers_ + index * buffer_size_; }
  size_t buffer_size() const { return buffer_size_; }
  size_t buffer_count() const { return buffer_count_; }

  // statx(dirfd, path, flags, mask, out).
  bool QueueStatx(int dirfd, const char* path, int flags, unsigned mask, struct statx* out,
                  uint64_t tag);
  // openat2(dirfd, path, how, sizeof *how); the result is the new fd.
  bool QueueOpenat2(int dirfd, const char* path, const struct open_how* how, uint64_t tag);
  // pread (kRead) or pwrite (kWrite) of `len` bytes at `file_offset`; a
  // registered buffer must hold [offset, offset + len) (false otherwise).
  bool QueueIo(IoDir dir, int fd, IoBuffer buf, unsigned len, uint64_t file_offset, uint64_t tag);
  bool QueueClose(int fd, uint64_t tag);
  // fsync(fd), or fdatasync(fd) when `datasync`.
  bool QueueFsync(int fd, bool datasync, uint64_t tag);
  // renameat2 / unlinkat / mkdirat / symlinkat, see PathOp.
  bool QueuePathOp(const PathOp& op, uint64_t tag);

  // Submits everything queued, waits until at least `min_complete`
  // completions are available (0: do not wait; capped at in_flight()) and
  // appends every available completion to `out`.
  Status SubmitAndReap(unsigned min_complete, std::vector<Completion>* out);

  unsigned in_flight() const { return in_flight_; }
  unsigned capacity() const { return capacity_; }

 private:
  Ring() = default;
  // The next free submission slot, submitting queued entries to make room;
  // nullptr when capacity() operations are in flight.
  io_uring_sqe* NextSqe();
  // Fills the next slot with `prep` and tags it; false when none is free.
  template <typename Prep>
  bool QueueWith(uint64_t tag, Prep prep);
  void ReleaseBuffers();

  std::unique_ptr<io_uring> ring_;
  unsigned in_flight_ = 0;
  unsigned capacity_ = 0;
  char* buffers_ = nullptr;
  size_t buffer_size_ = 0;
  size_t buffer_count_ = 0;
};

}  // namespace ha_sync::io
