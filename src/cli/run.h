// One invocation of `ha-sync` after its options are valid: take the lock,
// open the opslog, refuse on the missing-mount guard, run the engine, write
// the footer, print the summary, prune old opslogs. Returns the exit code
// (docs/cli.md): 0 ok / lock held elsewhere, 1 failed, 2 partial failure.
// Once taken, the lock is released on every return, a failed one too.
//
// Thread-safety: call once, from main.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cli/options.h"
#include "pipeline/plan_file.h"

namespace ha_sync::cli {

enum ExitCode : int { kExitOk = 0, kExitFailed = 1, kExitPartial = 2, kExitUsage = 64 };

// `ha-sync apply` (cli/apply_command.h): the plan to execute, and the
// checks made again once the pair's lock is held (a run may have started
// since they were first made): `recheck` returns "" or the refusal line.
struct ApplyRequest {
  int64_t plan_id = 0;
  std::shared_ptr<const pipeline::Plan> plan;
  std::function<std::string()> recheck;
};

// `stop` turns true on SIGTERM/SIGINT. `env` is the process environment
// (main reads it): the lock's (cli/lock_select.h), TMPDIR for the delete
// spool, and the test seams HA_SYNC_TEST_BLOCK_DELAY_MS (each copied block
// waits that long, so tests can catch a run mid-copy) and
// HA_SYNC_FLUSH_BATCH_ROWS (audit/audit_store.h). `apply`: null for an
// ordinary run.
int RunSync(const Options& options, std::atomic<bool>* stop, const EnvLookup& env,
            const ApplyRequest* apply = nullptr);

}  // namespace ha_sync::cli
