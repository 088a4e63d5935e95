// The refuse-before-touching guards of a run (docs/safety.md, "Guards"):
// an unmounted share looks like an empty directory, or like one that lost
// everything the last sync saw in it, and no run may treat that as "the
// user deleted everything".
//
// Every count is of what a run would really sync: ha-sync's own names
// (temp files, the trash folder, clock probes), --exclude'd paths and the
// log directory (passed in as excluded) are not content, and neither are
// files still settling (--min-age) or empty directories (a nested mount
// point that is not mounted).
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"
#include "pipeline/engine.h"

namespace ha_sync::pipeline {

// Refuses (an error naming the pair, the counts and the overriding flag)
// when
// - a root is missing or not a directory;
// - with --delete-missing: src holds no file or symlink anywhere while
//   dest holds any entry;
// - with a sync state that knows entries at the root: dest has none of
//   them left (copying into it would fill an empty mount point), or, with
//   --delete-missing, src has none of them left;
// unless options.max_vanished_percent is 100 or more. A shard (shard.h)
// checks the whole roots, against the state of its whole group
// (options.guard_state_paths), exactly as an unsharded run would.
Status CheckRoots(const EngineOptions& options);

// True when the tree under dir_fd holds a file or symlink modified no
// later than `settled_before_ns` (younger ones wait for --min-age), not
// counting reserved names or the `excluded` paths, or a directory it cannot
// read. Stops at the first one found; an error only when dir_fd cannot be
// listed.
Result<bool> HoldsContent(int dir_fd, const std::string& rel, const std::vector<std::string>& excluded,
                          int64_t settled_before_ns);

}  // namespace ha_sync::pipeline
