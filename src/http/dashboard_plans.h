// The pending plan of a pair's direction, for /api/pairs (docs/api.md): a
// stored dry-run is a plan (`ha-sync apply`, docs/cli.md). For the newest
// successful dry-run: its planned operations by kind (its counts), its
// biggest planned deletes, a link to its operations, and the newest run that
// applied it (sync_iterations.plan_id; read as "never" on a table that
// ha-sync has not yet given the column). Read-only, both dialects.
//
// Thread-safety: QueryPlanSummary uses only the given connection; PlanJson
// is pure.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/plan_lookup.h"
#include "audit/sql_connection.h"
#include "http/dashboard_queries.h"

namespace ha_sync::http {

struct PlanDelete {
  std::string filepath;  // as stored
  std::optional<int64_t> size_before;
};

struct PlanSummary {
  std::vector<PlanDelete> biggest_deletes;         // largest first
  std::optional<audit::IterationRow> applied_by;   // the newest apply of it
};

inline constexpr size_t kPlanDeletesShown = 5;

Result<PlanSummary> QueryPlanSummary(audit::SqlConnection* conn, int64_t dry_run_id);

// {"id", "started_at", "operations": {"create", "update", "delete",
// "conflict"}, "biggest_deletes": [...], "operations_url", "applied",
// "applied_by": {"id", "status", "started_at"} | null}.
boost::json::value PlanJson(const IterationView& dry_run, const PlanSummary& summary);

}  // namespace ha_sync::http
