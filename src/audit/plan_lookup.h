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
#include <vector>

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
  int shard_index = 0;  // part shard_index of shard_count; 0 of 1 when not sharded
  int shard_count = 1;
};

// The iteration with this id, or nullopt.
Result<std::optional<IterationRow>> FindIteration(SqlConnection* conn, int64_t id);

// The newest successful dry-run of pair+direction (and of the same shard,
// docs/cli.md "Shards"; 0 of 1 when not sharded) that no run applied with
// success, or nullopt.
Result<std::optional<int64_t>> LatestUnappliedPlan(SqlConnection* conn, const std::string& pair,
                                                   const std::string& direction, int shard_index, int shard_count);
// The same plans, newest first, at most `limit` of them.
Result<std::vector<IterationRow>> UnappliedPlans(SqlConnection* conn, const std::string& pair,
                                                 const std::string& direction, int shard_index,
                                                 int shard_count, int limit);

// A production run of `pair` (either direction) started after `since_ms`
// that is not an apply of `plan_id` and may have touched the plan's part of
// the tree, or nullopt. Only the other shards of the same shard count
// (shard_index of shard_count) own other parts; every other run may overlap.
Result<std::optional<IterationRow>> RealRunSince(SqlConnection* conn, const std::string& pair,
                                                 int64_t since_ms, int64_t plan_id, int shard_index,
                                                 int shard_count);

// The newest run that applied `plan_id` (any status), or nullopt.
Result<std::optional<IterationRow>> LastApplyOf(SqlConnection* conn, int64_t plan_id);

}  // namespace ha_sync::audit
