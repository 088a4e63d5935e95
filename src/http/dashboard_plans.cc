#include "http/dashboard_plans.h"

#include <atomic>
#include <boost/json.hpp>

#include "http/dashboard_json.h"

namespace ha_sync::http {

namespace json = boost::json;

namespace {

// Once seen the column stays (columns are only ever added).
std::atomic<bool> g_plan_column_seen{false};

bool HasPlanColumn(audit::SqlConnection* conn) {
  if (g_plan_column_seen.load()) return true;
  if (conn->QueryAll("SELECT plan_id FROM sync_iterations WHERE 1 = 0").ok()) {
    g_plan_column_seen.store(true);
    return true;
  }
  return false;
}

}  // namespace

Result<PlanSummary> QueryPlanSummary(audit::SqlConnection* conn, int64_t dry_run_id) {
  PlanSummary summary;
  auto rows = conn->QueryAll(
      "SELECT filepath, size_before FROM sync_operations WHERE iteration_id = ? AND "
      "operation = 'delete' AND status = 'success' ORDER BY size_before DESC, id ASC LIMIT " +
          std::to_string(kPlanDeletesShown),
      {dry_run_id});
  if (!rows.ok()) return rows.status();
  for (const audit::SqlRow& r : *rows) {
    PlanDelete d;
    int64_t size = 0;
    if (!audit::GetText(r[0], &d.filepath)) return Status::Error("unexpected value in sync_operations.filepath");
    if (audit::GetInt(r[1], &size)) d.size_before = size;
    summary.biggest_deletes.push_back(std::move(d));
  }
  if (!HasPlanColumn(conn)) return summary;
  auto applied = audit::LastApplyOf(conn, dry_run_id);
  if (!applied.ok()) return applied.status();
  summary.applied_by = std::move(*applied);
  return summary;
}

json::value PlanJson(const IterationView& dry_run, const PlanSummary& summary) {
  json::object o;
  o["id"] = dry_run.id;
  o["started_at"] = IsoTime(dry_run.started_at_ms);
  json::object ops;
  ops["create"] = dry_run.files_created;
  ops["update"] = dry_run.files_updated;
  ops["delete"] = dry_run.files_deleted;
  // A dry-run's failed operations are the conflicts the real run will leave.
  ops["conflict"] = dry_run.files_failed;
  o["operations"] = std::move(ops);
  json::array deletes;
  for (const PlanDelete& d : summary.biggest_deletes) {
    json::object del;
    del["filepath"] = SafeText(d.filepath);
    del["display_path"] = DisplayPath(d.filepath);
    if (d.size_before) {
      del["size_before"] = *d.size_before;
    } else {
      del["size_before"] = nullptr;
    }
    deletes.push_back(std::move(del));
  }
  o["biggest_deletes"] = std::move(deletes);
  o["operations_url"] = "/api/operations?iteration_id=" + std::to_string(dry_run.id);
  const auto& by = summary.applied_by;
  o["applied"] = by.has_value() && by->status == "success";
  if (by) {
    json::object a;
    a["id"] = by->id;
    a["status"] = SafeText(by->status);
    a["started_at"] = IsoTime(by->started_at_ms);
    o["applied_by"] = std::move(a);
  } else {
    o["applied_by"] = nullptr;
  }
  return o;
}

}  // namespace ha_sync::http
