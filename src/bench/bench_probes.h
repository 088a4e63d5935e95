// The measurements behind `ha-sync --bench`, each bounded by a deadline (and
// by bytes where it moves data). They run the sync engine's own pieces where
// it has them, so the rates are a sync's: the scan lists directories as the
// walk does (io::OpenAndListChild on the walk's listing pool, same shape),
// and the copy runs the copier a sync would (pipeline::MakeCopier: the io
// engine's copier with its temp file, attributes and rename). Reads have no
// read-only piece in the engine: they are the copier's read side alone
// (pread on threads, read fixed on an io::Ring for io_uring).
//
// None changes a user file's data or mtime: the scan lists and stats; reads
// open with O_NOATIME where permitted; copies read their sources as a sync
// does (which may move a source's atime, as a sync would) and write only
// into a scratch directory the caller creates and removes. Reads and copies
// drop the pages of the sources they read (POSIX_FADV_DONTNEED), so the next
// measurement starts cold.
//
// Engines: the scan is the same for both (the walk does not depend on
// --io-engine). Reads: kThreads does blocking preads on `in_flight` threads;
// kUring keeps `in_flight` files with `queue_depth` chunks each on one ring,
// io-wq workers limited to `in_flight` as the io_uring copier does. Copies:
// `workers` threads call the engine's copier for kThreads or kUring.
//
// Thread-safety: each function may be called from one thread at a time per
// directory fd; they start and join their own threads. `stop` may be set
// from a signal handler and ends a measurement early (as the deadline does).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_report.h"
#include "pipeline/prefetch_budget.h"

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
  int mode = -1;  // permission bits as listed (-1: unknown), a hint for the copier
};

// Walks the tree below root_fd as a sync's walk lists one side of it:
// depth first, each directory opened through its parent's fd and listed
// with io::OpenAndListChild (getdents + lstat) on a pool shaped by
// `shape` (pipeline::ListingShapeFor, as the sync of these roots would
// use): its threads list the directories
// next on the stack, up to its lookahead, ahead of the walk. Never follows
// symlinks; names in `skip` at the top level are
// neither counted nor entered. Counts the entries listed; `param` is the
// number of listing threads. The `keep_largest` largest regular files of at
// least `min_sample_size` bytes are returned in `largest` (largest first)
// for the read and copy measurements.
Measurement MeasureScan(int root_fd, const pipeline::ListingShape& shape, const Bounds& bounds,
                        const std::vector<std::string>& skip, size_t keep_largest,
                        int64_t min_sample_size, std::vector<SampleFile>* largest);

// Reads the files (from offset 0, in order, `in_flight` files at once,
// `queue_depth` chunks of `block_size` in flight per file with io_uring) up
// to `max_bytes` in total.
Measurement MeasureRead(int root_fd, const std::vector<SampleFile>& files, Engine engine,
                        unsigned in_flight, unsigned queue_depth, size_t block_size,
                        int64_t max_bytes, const Bounds& bounds);

// The flags of a sync that decide how it copies.
struct CopySettings {
  unsigned workers = 4;          // --workers: files copied at once
  unsigned queue_depth = 4;      // --queue-depth (io_uring)
  size_t block_size = 1 << 20;   // --block-size
  bool copy_file_range = true;   // not --no-copy-file-range (io_uring, one filesystem)
  bool fsync = false;            // --fsync
};

// Called with each finished copy (dir_fd/name) before it is removed, and
// the sample file it was copied from, on the copying threads (several at
// once). Tests look at the copy here.
using CopyInspector = std::function<void(int dir_fd, const std::string& name, const SampleFile& from)>;

// Copies the files (largest first, as given) from below src_root_fd into
// scratch_fd with the copier a sync with `settings` and `engine` would use
// (pipeline::MakeCopier), `workers` at once, each worker into a folder of
// its own (as a sync spreads its files over directories), and removes each
// copy once it is made; stops starting copies past `max_bytes` of sources.
// The bound cancels the copies in progress (the copier removes their temp
// files); only finished copies are counted (count, bytes). A copy that
// fails is skipped; the first failure is the row's error when no copy
// finished. The pages of the sources copied are dropped afterwards.
Measurement MeasureCopy(int src_root_fd, const std::vector<SampleFile>& files, int scratch_fd,
                        Engine engine, const CopySettings& settings, int64_t max_bytes,
                        const Bounds& bounds, const CopyInspector& inspect = nullptr);

// Creates a 4 KiB file, closes and removes it, `in_flight` at once on
// threads, each in a folder of its own under scratch_fd (removed after):
// the per-file round trips of a copy that no cache can answer.
Measurement MeasureMetadata(int scratch_fd, unsigned in_flight, const Bounds& bounds);

// Hashes an in-memory buffer with MD5 on `threads` threads.
Measurement MeasureMd5(unsigned threads, size_t block_size, int64_t max_bytes, const Bounds& bounds);

}  // namespace ha_sync::bench
