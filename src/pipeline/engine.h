// One sync run, src -> dest: walks both trees directory by directory
// (depth first, so memory grows with depth, not with the tree), plans each
// directory with PlanDirectory(), hands file work to an executor, spools
// deletes and executes them after the walk (--max-delete is checked first).
// The parts, in the order a run uses them: clock_probe.h (the mtime
// window), copier_factory.h, walker.h, file_executor.h, delete_runner.h;
// run_context.h is what they share.
//
// Every finished operation is reported to the OpSink exactly once, from
// whichever thread did it; the sink must be thread-safe.
//
// Stopping: when *stop turns true (SIGTERM) or the lock says writes must
// stop, the walk stops, queued work is dropped, in-flight copies are
// aborted (their temp files removed) and Run() returns a fatal status.
//
// Thread-safety: one Run() per Engine; progress() may be read from any
// thread while it runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ha_sync/op_record.h"
#include "ha_sync/progress.h"
#include "ha_sync/run_lock.h"
#include "ha_sync/status.h"
#include "pipeline/plan_file.h"
#include "pipeline/planner.h"
#include "pipeline/shard.h"

namespace ha_sync::pipeline {

struct EngineOptions {
  std::string src_root;
  std::string dest_root;
  std::string run_id;      // names the trash folder and clock probes
  std::string direction;   // names conflict copies
  int64_t started_at_ms = 0;
  PlanOptions plan;        // plan.now_ns is filled in by Run()
  // The pair's sync state file (docs/safety.md); empty: no state is kept.
  std::string state_path;
  // Read instead when state_path does not exist yet (a shard's first run
  // plans with the pair's unsharded state; shard.h).
  std::string state_fallback_path;
  // Not empty: the root guard (root_guard.h) knows the root from all of
  // these state files together (every shard of a group), not state_path.
  std::vector<std::string> guard_state_paths;
  // The pair's state files kept under another shard layout (shard.h,
  // OtherLayoutStatePaths): with none for this layout, a run with
  // --delete-missing is refused instead of planning as a first run.
  std::vector<std::string> other_layout_state_paths;
  // --shard: the part of the tree this run owns (shard.h); default: all.
  ShardSpec shard;
  // Removes expired trash and undo manifests at the end (one shard of a
  // group does it, so shards never race over the same directories).
  bool expire_trash = true;
  // Paths relative to the roots that are never synced nor deleted on either
  // side: ha-sync's own log directory when it lies inside a root.
  std::vector<std::string> excluded;
  // Deleted and overwritten files go to <dest>/.ha-sync-trash/ for this
  // many days; 0 deletes and overwrites for real.
  int64_t trash_retain_days = 14;
  // With the trash: where the undo manifest goes (UndoManifest::Dir(), in
  // the log directory); empty: no manifest, the run cannot be undone.
  std::string undo_dir;
  // Temp names carry temp_tag; a temp-named dest entry is removed only when
  // its tag is in own_temp_tags (sorted; see pipeline/temp_tags.h).
  uint32_t temp_tag = 0;
  std::vector<uint32_t> own_temp_tags;
  // Probe dest's mtime clock (never src: a run does not write to its source)
  // and widen the mtime window (not in dry-run).
  bool probe_clocks = true;
  int64_t clock_skew_warn_ns = 2'000'000'000;
  bool dry_run = false;
  size_t workers = 4;
  // src or dest is on a network file system (OnNetworkFileSystem): shapes
  // the walk's listing pool (walker.h, ListingShapeFor).
  bool network_roots = false;
  size_t block_size = 1 << 20;
  // File copies through io_uring (io/uring_copier.h) instead of blocking
  // syscalls on the workers; the caller has probed that io_uring works.
  bool io_uring = false;
  size_t queue_depth = 4;  // chunks in flight per file (io_uring only)
  // With io_uring and both roots on one filesystem: copy_file_range for the
  // data (server-side copy on NFS 4.2), see io/uring_copier.h.
  bool copy_file_range = true;
  bool fsync = false;
  int test_block_delay_ms = 0;  // see io::CopyOptions::block_delay_ms
  std::string temp_dir;         // the delete spool's folder (empty: /tmp)
  // --max-delete: at most this many files, or this percent of dest files.
  std::optional<int64_t> max_delete_count;
  std::optional<double> max_delete_percent;
  // --max-delete-percent: with a sync state, refuse to delete more than 10
  // files when they are beyond this share of the files it knows; see
  // pipeline/root_guard.h for the checks made before a run. 100: no limit.
  double max_vanished_percent = 50;
  std::string pair;  // names the pair in refusals
  // Dry-run: where the plan file goes (plan_file.h); empty: none is kept.
  std::string plan_out_path;
  // `ha-sync apply`: the plan to execute (plan_apply.h tells how); null for
  // an ordinary run.
  std::shared_ptr<const Plan> apply_plan;
};

class OpSink {
 public:
  virtual ~OpSink() = default;
  // Called right before a change to dest (rename, unlink, mkdir, symlink)
  // with the fields known then, so a kill between the change and
  // OnOperation leaves a record (src/audit/opslog_format.h, "intent").
  virtual void OnIntent(const OpRecord& op) { (void)op; }
  virtual void OnOperation(const OpRecord& op) = 0;
  virtual void OnWarning(const std::string& message) = 0;
  // `ha-sync apply`: a planned operation skipped because `reason` (a
  // precondition) changed since the plan.
  virtual void OnStale(OpKind op, const std::string& path, const std::string& reason) {
    OnWarning("stale: " + path + " (" + ToString(op) + "): " + reason);
  }
};

// Stage and Progress live in ha_sync/progress.h: the live status page reads
// them without depending on the engine.
using ha_sync::Progress;
using ha_sync::Stage;

struct EngineResult {
  RunCounts counts;
  Status fatal;  // not ok: the run as a whole failed (interrupted, guard, root unreadable)
  int64_t settling = 0;        // left for the next run by --min-age
  bool had_state = false;      // the pair's sync state was used
  bool deletes_disabled = false;  // scan errors: no delete was done
  // Dry-run only: conflicts in the plan. Each is recorded as the failed
  // update the real run will record (and so is in counts.failed), but the
  // dry-run itself did not fail on it.
  int64_t planned_conflicts = 0;
  int64_t window_ns = 0;       // mtime window used (threshold widened by the clock probe)
  std::optional<int64_t> clock_skew_ns;     // between the roots' mtime clocks
  std::optional<int64_t> mtime_precision_ns;  // coarsest of the two roots
  // Seconds per stage of the run (index static_cast<int>(Stage)), -1 for a
  // stage not entered; `done` is 0. Per-phase timers for --verbose.
  std::array<double, kStageCount> stage_seconds = {-1, -1, -1, -1, -1, -1, -1};
};

static_assert(kStageCount == 7, "EngineResult::stage_seconds lists one -1 per stage");

class Engine {
 public:
  Engine(EngineOptions options, OpSink* sink, const RunLock* lock, const std::atomic<bool>* stop);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  EngineResult Run();
  const Progress& progress() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ha_sync::pipeline
