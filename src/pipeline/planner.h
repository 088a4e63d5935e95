// Planning, pure: from the sorted entries of one directory on both sides,
// decide what each name needs (DESIGN.md §3). No syscalls here, so every
// rule is testable on plain vectors and the executors only execute.
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/dir_entry.h"

namespace ha_sync::pipeline {

struct PlanOptions {
  int64_t threshold_ns = 2'000'000'000;  // --mtime-threshold
  bool delete_missing = false;
};

enum class ActionKind {
  kInSync,          // skip, counted as skipped
  kDestNewer,       // skip, the reverse job carries it; counted as skipped
  kCreateFile,
  kUpdateFile,      // src newer, size differs: copy
  kHashThenUpdate,  // src newer, same size: MD5 both, copy or just set mtime
  kCreateSymlink,
  kUpdateSymlink,
  kCreateDir,       // mkdir, then descend
  kDescend,         // directory on both sides
  kConflict,        // no change; recorded as a failed operation
  kDelete,          // dest only, --delete-missing: deferred delete (subtree for a dir)
  kReplace,         // type differs, --delete-missing: delete dest, then create from src
  kLeaveDestOnly,   // dest only without --delete-missing
  kRemoveStaleTemp, // a temp file of an earlier run in dest
  kIgnoreSourceTemp,// a temp file in src: never copied
  kSkipSpecial,     // fifo, socket, device in src: skipped with a warning
};
const char* ToString(ActionKind kind);

struct Action {
  ActionKind kind;
  const io::Entry* src = nullptr;   // null when missing in src
  const io::Entry* dest = nullptr;  // null when missing in dest
  std::string reason;               // for kConflict and kSkipSpecial
};

// `src` and `dest` must be sorted by name (ListDirectory does that).
// Pointers in the result point into `src` and `dest`.
std::vector<Action> PlanDirectory(const std::vector<io::Entry>& src,
                                  const std::vector<io::Entry>& dest, const PlanOptions& options);

}  // namespace ha_sync::pipeline
