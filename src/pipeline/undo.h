// Undoing one run (`ha-sync undo`): from the run's undo manifest (in the
// log directory) and trash folder in dest, put back what it deleted or overwrote and remove what it
// created, but only where dest is still exactly as that run left it. The
// whole undo is refused (nothing is touched) when any path has changed
// since; the refusals name the paths. Removed and replaced versions go to
// the undo's own trash, so an undo can be undone by hand.
//
// Thread-safety: one thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::pipeline {

struct UndoStep {
  enum class Kind { kRemoveCreated, kRemoveCreatedDir, kRestoreFromTrash, kRestoreConflictCopy,
                    kRestoreMtime, kRecreateDir, kSetAside, kReleaseAside };
  Kind kind;
  UndoRecord record;
  std::string from;  // kRestoreConflictCopy: the conflict copy's path
  int64_t old_mtime_ns = 0;  // kRestoreMtime
  int aside = -1;  // kSetAside, kReleaseAside: its name in the aside folder
};

// A path whose type the run changed (it deleted the old entry, then
// created the new one: a file that replaced a directory, or the reverse) is
// undone in phases, so that no step destroys the only copy of anything:
// kSetAside moves the entry the run created into the undo's aside folder
// (<dest>/.ha-sync-trash/<undo run>.aside/<n>), the ordinary restore steps
// put the old entry and what was below it back, and only after all of them
// kReleaseAside disposes of the aside copy (a file or symlink goes to the
// undo's trash as <path>, like everything else undo removes; the empty
// directory is removed). If a step fails in between, the entry set aside is
// still in the aside folder, and the error says where.
struct UndoPlan {
  std::string run_dir_name;    // <stamp>-<run-id> in .ha-sync-trash
  std::string run_dest_root;   // the run's --dest as its manifest names it ("" in older manifests)
  std::vector<UndoStep> steps;       // in the order to execute
  // "path: why" for each path that changed since that run or cannot be
  // undone; non-empty: refuse.
  std::vector<std::string> refusals;
  // "path: trash copy '<where>': <errno text>" for each version the
  // manifest says is in the run's trash but is not there (purged, or the
  // wrong --dest); non-empty: refuse, never restore something else.
  std::vector<std::string> missing_trash;
  bool refused() const { return !refusals.empty() || !missing_trash.empty(); }
};

// Finds the run's manifest (in `manifest_dir`, UndoManifest::Dir(), else in
// dest's trash folder) and its trash folder, and checks every path. A
// manifest line that is unusable (UndoManifest::Read) fails the whole plan.
Result<UndoPlan> PlanUndo(int dest_root_fd, const std::string& manifest_dir, const std::string& run_id);

// Executes a plan without refusals; each step that changes dest is reported
// as an operation (as seen from dest) to `on_op`, and each step done to
// `on_done` (the aside releases included). Stops at the first failing step.
Status ApplyUndo(int dest_root_fd, const UndoPlan& plan, const std::string& undo_run_dir_name,
                 const std::function<void(const OpRecord&)>& on_op,
                 const std::function<void(const UndoStep&)>& on_done = {});

std::string Describe(const UndoStep& step);

}  // namespace ha_sync::pipeline
