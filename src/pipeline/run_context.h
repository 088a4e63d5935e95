// What the parts of one sync run share (engine.cc builds it; walker.h,
// file_executor.h and delete_runner.h take it by reference): the options,
// the sink, the live counters, the sync state, the trash and the undo
// manifest, and the one place that records a finished operation
// (Record(): the counts, the live Progress and the sink, in that order).
//
// Thread-safety: the fields are set by the thread that runs the engine
// before the walk starts and only read after that, except where a field
// says otherwise. NewOp(), Record(), Fail(), Warn(), CountSkipped(),
// AddPending(), Remember(), KeepOldState(), StillAsPlanned(At)(), Stale()
// and Stopping() may be called from any thread (file workers, delete
// workers), as may the sink.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "ha_sync/join_rel.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "io/dir_reader.h"
#include "pipeline/engine.h"
#include "pipeline/plan_file.h"
#include "pipeline/planner.h"
#include "pipeline/sync_state.h"
#include "pipeline/trash.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::pipeline {

// The operation a thread is doing that the live counters show as pending
// (RunContext::WorkScope): its record takes it off pending.
struct PendingWork {
  OpKind kind;
  int64_t bytes;
  bool settled = false;
};

class RunContext {
 public:
  RunContext(EngineOptions options, OpSink* op_sink) : opt(std::move(options)), sink(op_sink) {}
  RunContext(const RunContext&) = delete;
  RunContext& operator=(const RunContext&) = delete;

  const EngineOptions opt;
  OpSink* const sink;
  Progress progress;

  // Set once before the walk.
  int src_root_fd = -1;   // owned by the engine
  int dest_root_fd = -1;  // owned by the engine
  // The roots' device and inode (io::IdentityOf), when known: a directory
  // on one side that is the other root (a bind mount, a second mount) must
  // end the walk, see NotTheOtherRoot().
  std::optional<io::FileIdentity> src_root_id, dest_root_id;
  PlanOptions plan;       // opt.plan with now and the widened window
  std::string stamp;      // UTC start time for conflict copies and the trash
  std::unique_ptr<StateReader> state_reader;  // walk thread only (not thread-safe)
  std::unique_ptr<StateWriter> state_writer;
  std::unique_ptr<Trash> trash;
  std::unique_ptr<UndoManifest> manifest;  // with the trash: what `ha-sync undo` reverts
  std::unique_ptr<PlanWriter> plan_out;    // dry-run: the plan file (plan_file.h)

  // Set by the engine's stop monitor: abort_reason is written before aborted.
  std::atomic<bool> aborted{false};
  std::string abort_reason;

  // The walk's pass (engine.cc, RunPasses): the second one, after a type
  // replacement, re-plans the tree; what it only reports (in sync, kept,
  // settling, conflicts) the first pass reported already, except for the
  // paths replaced in the first pass (walk thread only).
  int pass = 0;
  std::set<std::string> replaced_in_first_pass;

  std::atomic<int64_t> settling{0};
  std::atomic<int64_t> scan_errors{0};  // any: no delete is done, the state is not committed
  std::atomic<int64_t> planned_conflicts{0};

  bool Stopping() const { return aborted.load(std::memory_order_acquire); }
  // Ok, or the refusal (ELOOP) when the open directory dir_fd, `rel` on the
  // dest side (`on_dest`) or the src side, is the other side's root: dest
  // inside src would be copied into itself, src inside dest deleted.
  Status NotTheOtherRoot(int dir_fd, bool on_dest, const std::string& rel) const;
  // Moves the live status to `stage` and adds the time since the last call
  // (or since the context was made) to the stage left. Engine thread only.
  void SetStage(Stage stage);
  // Seconds spent per stage so far (index static_cast<int>(Stage)); -1 for
  // a stage never entered. Engine thread only.
  std::array<double, kStageCount> StageSeconds() const;
  void AddPending(OpKind kind, int64_t n, int64_t bytes);
  void Record(OpRecord op);
  void Fail(OpRecord op, const Status& status);
  void Warn(const std::string& message) { sink->OnWarning(message); }
  void CountSkipped();
  OpRecord NewOp(OpKind kind, std::string path) const;
  // Keeps the name's old state record when its operation failed.
  void KeepOldState(const std::string& dir, const std::string& name, const StateEntry* old);
  // Appends to the undo manifest, when the run keeps one.
  void Remember(OpKind op, const std::string& path, io::FileType type, int64_t size,
                int64_t mtime_ns, std::optional<std::string> previous = std::nullopt);
  RunCounts counts() const;

  // Dry-run: adds the planned operation and the sides it rests on to the
  // plan file, when the run keeps one.
  void NotePlanned(OpKind op, const std::string& rel, const io::Entry* src, const io::Entry* dest);
  // `ha-sync apply`: the plan's operation `op` on `rel`, or null.
  const PlanOp* Planned(OpKind op, const std::string& rel) const;
  // `ha-sync apply`, right before a change: true when the plan has `op` on
  // dir/name and both sides (re-read now; fd -1: the directory is missing)
  // are as it saw them. Otherwise false, and when the plan has the
  // operation it is recorded as stale (Stale()).
  bool StillAsPlanned(OpKind op, const std::string& dir, const std::string& name, int src_dir_fd,
                      int dest_dir_fd);
  // As StillAsPlanned, opening the directory of `rel` beneath each root.
  bool StillAsPlannedAt(OpKind op, const std::string& rel);
  // Counts a stale operation (also as skipped) and reports it to the sink.
  void Stale(OpKind op, const std::string& rel, const std::string& why);

  // Pending work on this thread (a file task, a spooled delete): the first
  // Record() of its kind settles it in the same step as counting it done or
  // failed, so the live status never counts it twice; work that ends with
  // no record of its kind (dropped, or a conflict copy that failed early)
  // is settled when the scope ends.
  class WorkScope {
   public:
    WorkScope(RunContext* ctx, OpKind kind, int64_t bytes);
    ~WorkScope();
    WorkScope(const WorkScope&) = delete;
    WorkScope& operator=(const WorkScope&) = delete;

   private:
    RunContext* ctx_;
    PendingWork work_;
    PendingWork* outer_;
  };

 private:
  mutable std::mutex mu_;
  RunCounts counts_;  // guarded by mu_
  // The per-stage timers (SetStage, StageSeconds): engine thread only.
  Stage stage_ = Stage::kStarting;
  std::chrono::steady_clock::time_point stage_since_ = std::chrono::steady_clock::now();
  std::array<double, kStageCount> stage_seconds_ = {0, -1, -1, -1, -1, -1, -1};
};

}  // namespace ha_sync::pipeline
