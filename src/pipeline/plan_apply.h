// The checks of `ha-sync apply` (docs/cli.md): a run that executes a stored
// plan (plan_file.h) does, for each path the walker plans to change, the
// planned operation only when the plan has it and its preconditions still
// hold on both sides; the walker checks them against its listing, and the
// file executor and the delete runner again right before the change. A
// change of the plan whose preconditions no longer hold is "stale": skipped,
// never overwritten. Anything the plan does not list is left alone.
//
// Thread-safety: pure functions, except StatNow (one lstat).
#pragma once

#include <optional>
#include <string>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "pipeline/plan_file.h"
#include "pipeline/planner.h"

namespace ha_sync::pipeline {

// The operation an action changes dest by (a replace starts with a delete),
// nullopt for actions that change nothing in dest.
std::optional<OpKind> ChangeOf(ActionKind kind);

// "" when both sides are now as the plan saw them; otherwise which
// precondition changed ("dest size changed (10 -> 12 bytes)"). Directories
// are compared by type only (their mtimes follow their contents); symlinks
// by target.
std::string ChangedPrecondition(const PlanOp& op, const io::Entry* src_now,
                                const io::Entry* dest_now);

// lstat of dir_fd/name into *out; nullopt when it does not exist (or dir_fd
// is -1: its directory does not exist).
Status StatNow(int dir_fd, const std::string& name, const std::string& rel,
               std::optional<io::Entry>* out);

}  // namespace ha_sync::pipeline
