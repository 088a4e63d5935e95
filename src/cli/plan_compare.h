// Whether a new dry-run's plan is the kept plan unchanged (docs/cli.md,
// "Dry-run"): only then may the dry-run say "Nothing has changed" and
// refresh the kept plan's file under its id. Same pair, direction, roots
// and --delete-missing, and the same operations with the same states of
// both sides (their preconditions), compared line by line as an
// order-independent digest, in constant memory.
//
// Thread-safety: reentrant.
#pragma once

#include <string>

#include "ha_sync/status.h"

namespace ha_sync::cli {

// An error when either file cannot be read in full.
Result<bool> SamePlanFiles(const std::string& a_path, const std::string& b_path);

}  // namespace ha_sync::cli
