// The audit rows `ha-sync apply` and the dashboard need about plans: a plan
// is a stored dry-run (its sync_iterations.id is the plan id), and the run
// that executes it carries that id in sync_iterations.plan_id
// (docs/schema.md). Read-only queries, both dialects.
//
// Thread-safety: uses the given connection only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "audit/sql_connection.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

struct IterationRow {
  int64_t id = 0;
  std::string pair;
  std::string direction;
  std::string status;
  bool dry_run = false;
  int64_t started_at_ms = 0;
  std::string run_id;  // empty when NULL
};

// The iteration with this id, or nullopt.
Result<std::optional<IterationRow>> FindIteration(SqlConnection* conn, int64_t id);

// The newest successful dry-run of pair+direction that no run applied with
// success, or nullopt.
Result<std::optional<int64_t>> LatestUnappliedPlan(SqlConnection* conn, const std::string& pair,
                                                   const std::string& direction);

// A production run of `pair` (either direction) started after `since_ms`
// that is not an apply of `plan_id`, or nullopt.
Result<std::optional<IterationRow>> RealRunSince(SqlConnection* conn, const std::string& pair,
                                                 int64_t since_ms, int64_t plan_id);

// The newest run that applied `plan_id` (any status), or nullopt.
Result<std::optional<IterationRow>> LastApplyOf(SqlConnection* conn, int64_t plan_id);

}  // namespace ha_sync::audit
