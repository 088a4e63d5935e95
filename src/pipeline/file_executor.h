// The per-file work of one walk pass (file copies, hash-then-update, conflict
// copies, symlinks), run on a pool of --workers threads fed by the walker
// (walker.h). Each operation is recorded once through the RunContext; one
// that fails keeps the name's old sync state. In dry-run nothing is queued:
// Submit() records the planned operation at once.
//
// Stopping: queued work that has not started when the run stops is dropped
// (no record); a copy in flight is cancelled by the copier and recorded as
// cancelled.
//
// Thread-safety: Submit() and Drain() from the walk thread only; the work
// runs on the pool's threads and touches only the RunContext, its DirNode
// and the copier (all safe for that).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "io/dir_entry.h"
#include "io/file_copier.h"
#include "pipeline/dir_node.h"
#include "pipeline/planner.h"
#include "pipeline/run_context.h"
#include "pipeline/sync_state.h"
#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

class FileExecutor {
 public:
  // `ctx` and `copier` must outlive the executor.
  FileExecutor(RunContext& ctx, io::FileCopier& copier);
  // Waits for queued work, like Drain().
  ~FileExecutor();
  FileExecutor(const FileExecutor&) = delete;
  FileExecutor& operator=(const FileExecutor&) = delete;

  // `kind` is one of the file and symlink actions; `dest` and `old` may be
  // null (copied before Submit returns). May block while the queue is full.
  void Submit(const NodePtr& node, ActionKind kind, const io::Entry& src, const io::Entry* dest,
              const StateEntry* old);
  // Returns when every submitted operation has finished; stops the workers.
  void Drain();

 private:
  // Each returns false when the operation failed (and was recorded so).
  // Without trash_previous the replaced version is kept as `conflict_copy`.
  bool DoCopy(const NodePtr& node, ActionKind kind, const io::Entry& src, const io::Entry* dest,
              bool trash_previous = true, const std::string& conflict_copy = {});
  // Hash-then-update: hashes both sides; with equal bytes only src's mtime
  // is carried over. Returns the outcome when that decided the operation
  // (and recorded it), nullopt when the data must be copied.
  std::optional<bool> CarryMtimeIfSameBytes(const NodePtr& node, const io::Entry& src,
                                            const io::Entry& dest,
                                            const io::CopyOptions& copy_options, OpRecord* op);
  bool DoConflictCopy(const NodePtr& node, const io::Entry& src, const io::Entry& dest);
  bool DoSymlink(const NodePtr& node, ActionKind kind, const io::Entry& src, const io::Entry* dest);

  RunContext& ctx_;
  io::FileCopier& copier_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace ha_sync::pipeline
