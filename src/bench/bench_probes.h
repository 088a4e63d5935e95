// The measurements behind `ha-sync --bench`, each bounded by a deadline (and
// by bytes where it moves data). The scan lists directories as a sync's walk
// does (io::OpenAndListChild on the walk's listing pool, same shape), so its
// rate is the walk's. None changes a user file: the scan lists and stats,
// reads open with O_NOATIME where permitted and drop the pages they read
// (POSIX_FADV_DONTNEED) so the next measurement starts cold, and writes go
// to a scratch directory the caller creates and removes.
//
// Engines: the scan is the same for both (the walk does not depend on
// --io-engine). For reads and writes, kThreads does what the thread
// executor does (blocking calls on `in_flight` threads); kUring keeps
// `in_flight` files on one io_uring ring (read/write fixed with
// `queue_depth` chunks per file, fsync), with io-wq workers limited to
// `in_flight`, as the io_uring executor does.
//
// Thread-safety: each function may be called from one thread at a time per
// directory fd; they start and join their own threads. `stop` may be set
// from a signal handler and ends a measurement early (as the deadline does).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/bench_report.h"

namespace ha_sync::bench {

using Clock = std::chrono::steady_clock;

enum class Engine { kThreads, kUring };
const char* EngineName(Engine engine);  // "threads" | "uring"

struct Bounds {
  Clock::time_point deadline;
  const std::atomic<bool>* stop = nullptr;
  bool Over() const;
};

struct SampleFile {
  std::string rel_path;  // relative to the root
  int64_t size = 0;
  int mode = -1;  // permission bits as listed (-1: unknown)
};

// Walks the tree below root_fd as a sync's walk lists one side of it:
// depth first, each directory opened through its parent's fd and listed
// with io::OpenAndListChild (getdents + lstat) on a pool shaped by
// pipeline::ListingShapeFor(workers): its threads list the directories
// next on the stack, up to its lookahead, ahead of the walk. Never follows
// symlinks; names in `skip` at the top level are
// neither counted nor entered. Counts the entries listed; `param` is the
// number of listing threads. The `keep_largest` largest regular files of at
// least `min_sample_size` bytes are returned in `largest` (largest first)
// for the read measurement.
Measurement MeasureScan(int root_fd, unsigned workers, const Bounds& bounds,
                        const std::vector<std::string>& skip, size_t keep_largest,
                        int64_t min_sample_size, std::vector<SampleFile>* largest);

// Reads the files (from offset 0, in order, `in_flight` files at once,
// `queue_depth` chunks of `block_size` in flight per file with io_uring) up
// to `max_bytes` in total.
Measurement MeasureRead(int root_fd, const std::vector<SampleFile>& files, Engine engine,
                        unsigned in_flight, unsigned queue_depth, size_t block_size,
                        int64_t max_bytes, const Bounds& bounds);

// Writes files of `file_bytes` of incompressible data into scratch_fd
// (`in_flight` files at once), fsyncs and removes each; counts the bytes of
// fsynced files, up to `max_bytes`.
Measurement MeasureWrite(int scratch_fd, Engine engine, unsigned in_flight, unsigned queue_depth,
                         size_t block_size, int64_t file_bytes, int64_t max_bytes,
                         const Bounds& bounds);

// Creates a 4 KiB file, closes and removes it, `in_flight` at once on
// threads, each in a folder of its own under scratch_fd (removed after):
// the per-file round trips of a copy that no cache can answer.
Measurement MeasureMetadata(int scratch_fd, unsigned in_flight, const Bounds& bounds);

// Hashes an in-memory buffer with MD5 on `threads` threads.
Measurement MeasureMd5(unsigned threads, size_t block_size, int64_t max_bytes, const Bounds& bounds);

}  // namespace ha_sync::bench
