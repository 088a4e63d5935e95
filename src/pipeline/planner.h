// Planning, pure: from the sorted entries of one directory on both sides
// (and, when the pair has one, the last synced state of that directory),
// decide what each name needs (docs/cli.md, "What a run does";
// docs/safety.md). No syscalls
// here, so every rule is testable on plain vectors and the executors only
// execute.
//
// Without state (first run, lost state) the rules are the seed's two-way
// "newest wins" rules. With state the planner also knows which side
// changed: a change on one side wins whatever the mtimes say, a change on
// both sides is a conflict whose loser is kept as a conflict copy, and
// --delete-missing deletes only what was synced before and is unchanged.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/dir_entry.h"
#include "pipeline/sync_state.h"

namespace ha_sync::pipeline {

struct PlanOptions {
  int64_t threshold_ns = 2'000'000'000;  // --mtime-threshold (widened by the clock probe)
  bool delete_missing = false;
  int64_t now_ns = 0;       // wall clock at the start of the run (0: no future/age checks)
  int64_t min_age_ns = 0;   // --min-age: younger files wait for the next run
};

enum class ActionKind {
  kInSync,            // skip, counted as skipped
  kDestNewer,         // skip: dest changed (or is newer); the reverse run carries it
  kCreateFile,
  kUpdateFile,        // copy over dest
  kHashThenUpdate,    // same size: MD5 both, copy or just set mtime
  kConflictCopy,      // both sides changed: dest's version is kept as a conflict copy, then src is copied
  kCreateSymlink,
  kUpdateSymlink,
  kCreateDir,         // mkdir, then descend
  kDescend,           // directory on both sides
  kConflict,          // no change; recorded as a failed operation
  kDelete,            // --delete-missing: deferred delete (for a directory, its subtree)
  kReplace,           // type differs, --delete-missing: delete dest, then create from src
  kLeaveDestOnly,     // dest only, no --delete-missing
  kNewOnDest,         // dest only, unknown to the state: new on dest, the reverse run copies it
  kDestChangedKeep,   // dest only, deleted on src but changed on dest since: kept (a change beats a delete)
  kDeletedOnDest,     // src only, synced before and unchanged on src: deleted on dest, not re-created
  kSettling,          // modified within --min-age: left for the next run
  kFutureDated,       // src dated beyond now + window: never wins automatically
  kRemoveStaleTemp,   // a temp file of an earlier run in dest
  kIgnoreSourceTemp,  // a temp file in src: never copied
  kSkipSpecial,       // fifo, socket, device in src: skipped with a warning
};
const char* ToString(ActionKind kind);

// What the new sync state records for the name once the action is done.
enum class NextState {
  kRecordSource,  // both sides now equal src (if the operation fails: keep the old record)
  kKeepOld,       // the old record (if any) stays
  kDrop,          // not recorded
};

struct Action {
  ActionKind kind;
  const io::Entry* src = nullptr;      // null when missing in src
  const io::Entry* dest = nullptr;     // null when missing in dest
  const StateEntry* state = nullptr;   // the last synced record of the name, if any
  NextState next = NextState::kDrop;
  std::string reason;                  // for kConflict, kSkipSpecial, kFutureDated
};

// `src`, `dest` and `*state` must be sorted by name. `state` is null when the
// pair has no state at all. Pointers in the result point into the inputs.
std::vector<Action> PlanDirectory(const std::vector<io::Entry>& src,
                                  const std::vector<io::Entry>& dest,
                                  const std::vector<StateEntry>* state, const PlanOptions& options);

// `--bench`'s scratch folder in the dest root: ".ha-sync-bench-<host>-<pid>".
inline constexpr char kBenchScratchPrefix[] = ".ha-sync-bench-";

// Names ha-sync keeps for itself in each root and never syncs nor deletes:
// temp files; at the root, the trash folder, clock probe files and
// `--bench`'s scratch folders (left by a killed bench, or in use by one
// running beside the sync, which takes no lock).
bool IsReservedName(const std::string& name, bool at_root);

// A file or symlink modified within options.min_age_ns of options.now_ns:
// left for the next run (--min-age). A future mtime is not "modified a
// moment ago" (it would never settle); a directory never settles.
bool Settling(const io::Entry& e, const PlanOptions& options);

// True when `rel` is one of the --exclude'd paths (or the log directory,
// which a run adds there): never synced, never deleted, wherever the walk,
// a subtree delete or a guard meets it.
bool IsExcluded(const std::vector<std::string>& excluded, const std::string& rel);

}  // namespace ha_sync::pipeline
