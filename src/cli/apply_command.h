// `ha-sync apply`: executes one stored dry-run (a plan) and nothing else
// (docs/cli.md "Plan and apply").
//   ha-sync apply --plan ID|latest [--plan-max-age SECONDS] <the run's flags>
// The run's flags are those of `ha-sync` (without --dry-run) and must name
// the plan's pair, direction, src and dest, with its --delete-missing. The
// plan is refused, before anything is touched, when it is unknown, of
// another pair or direction, not a successful dry-run, older than
// --plan-max-age, already applied with success, or when a production run of
// the pair started after it; the last two are checked again under the lock.
//
// Thread-safety: call once, from main.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "ha_sync/env_lookup.h"

namespace ha_sync::cli {

// Returns the exit code: that of the run, or 64 (bad input) / 1 (refused).
// `env`: the process environment, as for RunSync (cli/run.h).
int RunApplyCommand(const std::vector<std::string>& args, const EnvLookup& env, std::atomic<bool>* stop);

// `ha-sync approve`: the same checks as apply, then the plan's approval file
// (pipeline/plan_file.h) for `apply --plan latest-approved`. Returns 0, 64
// (bad input) or 1 (refused).
int RunApproveCommand(const std::vector<std::string>& args, const EnvLookup& env);

}  // namespace ha_sync::cli
