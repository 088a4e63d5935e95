// One invocation of `ha-sync` after its options are valid: take the lock,
// open the opslog, refuse on the missing-mount guard, run the engine, write
// the footer, print the summary, prune old opslogs. Returns the exit code
// (docs/cli.md): 0 ok / lock held elsewhere, 1 failed, 2 partial failure.
//
// Thread-safety: call once, from main.
#pragma once

#include <atomic>

#include "cli/options.h"

namespace ha_sync::cli {

enum ExitCode : int { kExitOk = 0, kExitFailed = 1, kExitPartial = 2, kExitUsage = 64 };

// `stop` turns true on SIGTERM/SIGINT. `env` is the process environment
// (main reads it): the lock's (cli/lock_select.h), TMPDIR for the delete
// spool, and the test seams HA_SYNC_TEST_BLOCK_DELAY_MS (each copied block
// waits that long, so tests can catch a run mid-copy) and
// HA_SYNC_FLUSH_BATCH_ROWS (audit/audit_store.h).
int RunSync(const Options& options, std::atomic<bool>* stop, const EnvLookup& env);

}  // namespace ha_sync::cli
