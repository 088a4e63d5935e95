// What `ha-sync --bench` found, and what it advises: the measurements as
// rows, a readable table, a JSON document, and the --workers/--block-size/
// --io-engine recommendation derived from the rows (pure functions, so the
// advice is testable without a filesystem).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ha_sync::bench {

// One measurement. `phase` is one of:
//   "scan"        entries listed and stat'ed per second (root "src"/"dest"),
//                 as a sync's walk lists them, `param` listing threads (one
//                 row per root: the walk is the same for both engines)
//   "read"        MB/s reading a sample of the largest source files
//   "read-block"  MB/s reading with block size `param` (the block-size sweep)
//   "copy"        MB/s copying the read sample into a scratch folder under
//                 dest with the engine's copier (temp file, attributes,
//                 rename; fsync with --fsync), each copy removed after
//   "metadata"    create+write+close+unlink per second in that folder with
//                 `param` operations in flight (uncached round trips)
//   "md5"         MB/s hashing in memory on `param` threads
struct Measurement {
  std::string phase;
  std::string root;    // "src", "dest" or "" (md5)
  std::string engine;  // "threads", "uring" or "" (engine-independent)
  int64_t param = 0;   // in flight / block size / threads, by phase
  int64_t count = 0;   // entries, files or operations done
  int64_t bytes = 0;
  double seconds = 0;
  bool complete = false;  // the whole tree or sample was covered before the time bound
  std::string error;      // non-empty: the measurement failed (rate not meaningful)

  // entries/s (scan), operations/s (metadata) or MB/s (read, copy, md5).
  double Rate() const;
  std::string Unit() const;  // "entries/s", "ops/s" or "MB/s"
};

struct Recommendation {
  int64_t workers = 0;     // 0: no advice (the measurements were missing)
  int64_t block_size = 0;  // 0: no advice
  std::string io_engine;   // "uring", "threads" or "auto" (no clear winner)
  std::vector<std::string> reasons;  // one sentence per advice, with the figures behind it
};

// workers: the fewest operations in flight whose metadata rate is within
// 10% of the best measured (at least 4: the engine's default floor).
// block_size: the smallest block whose read rate is within 5% of the best.
// io_engine: the engine whose read and copy rates are higher by more than
// 5% (geometric mean of the uring/threads ratios of like-for-like rows),
// else "auto". Rows of no engine (scan, md5) are not compared.
Recommendation Recommend(const std::vector<Measurement>& rows);

struct BenchReport {
  std::string version;
  std::string src;
  std::string dest;
  double budget_seconds = 0;
  double elapsed_seconds = 0;
  int64_t workers = 0;  // --workers used for the scan/read/copy rows
  int64_t queue_depth = 0;
  int64_t block_size = 0;
  std::vector<std::string> notes;  // e.g. why an engine was not measured
  std::vector<Measurement> rows;
  Recommendation recommendation;
};

std::string FormatTable(const BenchReport& report);
std::string FormatJson(const BenchReport& report);

}  // namespace ha_sync::bench
