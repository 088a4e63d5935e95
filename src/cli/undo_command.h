// `ha-sync undo`: reverts one earlier run in its destination (docs/safety.md).
//   ha-sync undo --dest DIR --pair NAME --run-id ID [--apply] [--log-dir DIR]
// Without --apply it prints what it would do. It takes the pair's lock and
// records itself as its own run (direction "undo") in the opslog.
//
// Thread-safety: call once, from main.
#pragma once

#include <string>
#include <vector>

namespace ha_sync::cli {

// Returns the exit code (0 done or planned, 1 refused/failed, 64 usage).
int RunUndoCommand(const std::vector<std::string>& args);

}  // namespace ha_sync::cli
