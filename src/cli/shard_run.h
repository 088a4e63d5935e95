// What --shard changes in one run (docs/cli.md "Shards"): the engine's
// share of the tree, the per-shard state and temp-tag files, the group's
// root guard and --max-delete budget, and the audit header's group.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "cli/options.h"
#include "ha_sync/op_record.h"
#include "pipeline/engine.h"

namespace ha_sync::cli {

// Sets the shard, the state paths (own file; the pair's unsharded state
// while the shard has none yet; the whole group's for the root guard),
// trash expiry (shard 0 only) and this shard's part of --max-delete N.
void ApplyShard(const Options& options, pipeline::EngineOptions* eo);

// The run group and shard of the audit header.
void ApplyShard(const Options& options, RunHeader* header);

// Where this run registers its temp tag, and the files whose tags it may
// clean up after (its own; a shard also the pair's unsharded runs').
std::string TempTagsPathFor(const Options& options);
std::vector<std::string> TempTagsReadable(const Options& options);

}  // namespace ha_sync::cli
