// File copies executed through one io_uring ring (the io_uring executor's
// hot path), with CopyFileAtomic()'s contract unchanged (file_copier.h).
//
// Small files: a file listed at no more than `small_file_bytes`
// (CopyOptions::expected_size) is copied with CopyFileAtomic() on the calling
// thread. Its ~8 requests would run one after another anyway (one chunk, no
// overlap to gain), and each would cost a hand-off to the ring thread and,
// for metadata requests that cannot complete without blocking (every one on
// NFS and FUSE, open/rename/stat on local filesystems), a punt to io-wq:
// measured 1.5-2x the wall time of blocking calls on a photo tree, locally
// and through a 300 us latency FUSE mount (docs/io-uring-executor.md).
// Large files keep the ring, where their chunks overlap.
//
// Shape: the engine's worker threads call Copy(), one file each, so
// --workers files are in flight. Each call turns its copy into ring
// requests (openat2 of source and temp file together, statx, chunked
// read/write of up to `queue_depth` chunks at once, statx, fsync, close,
// renameat) and hands them to the ring thread, which owns the ring, submits
// the requests of every caller in batches and wakes each caller when one of
// its requests completed. MD5 runs on the calling thread over the chunks in
// offset order (several cores hash at once); all-zero chunks are not
// written (holes) and the file is sized with ftruncate. What io_uring lacks
// (ftruncate before 6.9, fchmod, fchown, futimens, unlink on failure) runs
// on the calling thread. The temp file's ending is CopyFileAtomic()'s own
// (temp_copy.h, TempCopy::Commit) with its fsync, close and rename sent to
// the ring.
//
// Large files (over `large_file_bytes`) take turns: a few at a time, with
// deeper queues, so each one's reads stay sequential.
//
// Memory: a fixed pool of block_size buffers, registered with the ring
// (read/write fixed) when the locked-memory limit allows, else plain
// read/write on the same buffers; a copy takes one buffer (waiting when all
// are taken) and up to queue_depth - 1 more when free, so calls never
// deadlock and memory does not grow with file count. The pool is made when
// the first copy needs it, and registered by the ring thread (the ring's
// one submitter): registering faults in and pins every page, tens of
// milliseconds and up to 64 MiB that a run with no file over one block
// never needs. A refused registration allocates the pool on the copying
// thread instead.
//
// io-wq: the ring's worker threads are limited to `files_in_flight`
// (IORING_REGISTER_IOWQ_MAX_WORKERS): on NFS nearly every request is
// handed to them, so this is the concurrency the server sees.
//
// Thread-safety: Copy() may be called from any number of threads at once;
// the destructor must not run concurrently with Copy().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ha_sync/status.h"
#include "io/file_copier.h"
#include "io/uring_ring.h"

namespace ha_sync::io {

struct UringCopierOptions {
  unsigned files_in_flight = 4;  // --workers: callers expected at once, io-wq limit
  unsigned queue_depth = 4;      // --queue-depth: chunks in flight per file
  size_t block_size = 1 << 20;   // --block-size: chunk size
  // Cap on the buffer pool (files_in_flight * queue_depth buffers at most).
  size_t max_buffer_bytes = 64u << 20;
  // Both roots are on one filesystem: the data of non-zero chunks is copied
  // with copy_file_range (a server-side copy on NFS 4.2: the bytes are read
  // once for MD5 but never sent back) instead of written from the buffer.
  // When the filesystem refuses (EXDEV, EOPNOTSUPP, ...) the copy writes the
  // buffer instead, and later copies do not try again.
  bool copy_file_range = false;
  // Register the pool with the ring; false (or a refused registration) uses
  // plain read/write on the same buffers.
  bool register_buffers = true;
  // Files listed at this size or less are copied with blocking calls (see
  // above); 0: every file goes through the ring.
  int64_t small_file_bytes = 0;
  // Files larger than this copy their data at most `large_files_at_once`
  // at a time, with `large_queue_depth` chunks in flight each; the other
  // callers go on with smaller files or wait their turn. Several large
  // files read at once interleave their read-ahead streams and lose the
  // device's sequential rate (perf/README.md, "Large files"). 0: no turns.
  int64_t large_file_bytes = 0;
  unsigned large_files_at_once = 2;
  unsigned large_queue_depth = 8;
};

class UringCopier : public FileCopier {
 public:
  // Fails when the ring cannot be set up (see uring_probe.h).
  static Result<std::unique_ptr<UringCopier>> Create(const UringCopierOptions& options);
  ~UringCopier() override;

  Status Copy(int src_dirfd, int dest_dirfd, const std::string& name, const std::string& display,
              const CopyOptions& options, CopyOutcome* out) override;

  // Whether the pool, once made, was registered (false before).
  bool buffers_registered() {
    std::lock_guard<std::mutex> lock(pool_mu_);
    return registered_;
  }
  // Copies that went through the ring (not the small-file path).
  uint64_t ring_copies() const { return ring_copies_.load(); }
  size_t buffer_count() const { return buffer_count_; }
  // The most large files that copied their data at once so far.
  unsigned large_turns_peak();

  // One ring request of a caller: `queue` puts it on the ring with the tag
  // it is given; `res` is the syscall result once the request is in the
  // caller's completion list.
  struct Waiter;
  struct Request {
    std::function<bool(Ring&, uint64_t)> queue;
    Waiter* waiter = nullptr;
    int32_t res = 0;
  };
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Request*> done;
  };

 private:
  // One copy's batches of requests, and its chunk loop (uring_copier.cc).
  class CopyRequests;
  class ChunkCopy;

  explicit UringCopier(const UringCopierOptions& options) : opt_(options) {}
  void RingLoop();
  void Submit(Request* r);
  // Blocks until one of the caller's requests completed and returns it.
  static Request* WaitOne(Waiter* w);
  // A large file's turn: blocks until fewer than large_files_at_once hold
  // one, or `cancel` is set (then false).
  bool TakeLargeFileTurn(const std::atomic<bool>* cancel);
  void GiveBackLargeFileTurn();
  // The buffer pool: AcquireFirst blocks; AcquireMore never does. Both make
  // the pool first when it is not made yet.
  void MakePoolLocked();
  // Asks the ring thread to register the pool; true when the kernel took it.
  bool RegisterOnRingThread();
  size_t AcquireFirst();
  bool AcquireMore(size_t* index);
  void Release(size_t index);
  char* BufferAt(size_t index) const;
  // Queues a read or write of buffer `index` (fixed when registered).
  bool QueueIo(Ring& ring, bool write, int fd, size_t index, size_t buf_offset, unsigned len,
               uint64_t file_offset, uint64_t tag) const;

  const UringCopierOptions opt_;
  std::unique_ptr<Ring> ring_;
  int event_fd_ = -1;
  uint64_t event_buf_ = 0;  // read target of the armed eventfd read (ring thread only)
  std::thread thread_;

  std::mutex mu_;  // guards pending_, stopping_ and the register_ fields
  std::vector<Request*> pending_;
  bool stopping_ = false;
  bool register_wanted_ = false, register_done_ = false, register_ok_ = false;
  std::condition_variable register_cv_;

  std::atomic<bool> server_copy_refused_{false};
  std::atomic<uint64_t> ring_copies_{0};
  // Set once under pool_mu_ before the first buffer is handed out; read
  // after taking a buffer (and by the ring thread for requests made after).
  bool pool_made_ = false;
  bool registered_ = false;
  size_t buffer_count_ = 0;
  std::unique_ptr<char[]> own_buffers_;  // when registration was refused
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<size_t> free_;  // guarded by pool_mu_
  std::mutex large_mu_;
  std::condition_variable large_cv_;
  unsigned large_turns_taken_ = 0;  // guarded by large_mu_
  unsigned large_turns_peak_ = 0;   // guarded by large_mu_
};

}  // namespace ha_sync::io
