// `ha-sync --bench`: measures what a sync between --src and --dest can reach
// on these mounts, for each io engine, without changing any user file, in
// about --bench-seconds; prints a table (or JSON) and advice for --workers,
// --block-size and --io-engine. See docs/cli.md "Benchmark".
//
// Thread-safety: call once, from main.
#pragma once

#include <atomic>

#include "cli/options.h"

namespace ha_sync::cli {

// Returns the exit code: 0 every measurement ran, 1 a root could not be
// opened or the run was interrupted, 2 some measurement failed (named in
// the table; e.g. dest is read-only).
int RunBench(const Options& options, std::atomic<bool>* stop);

}  // namespace ha_sync::cli
