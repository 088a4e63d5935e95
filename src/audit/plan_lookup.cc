#include "audit/plan_lookup.h"

#include "audit/schema.h"

namespace ha_sync::audit {

namespace {

constexpr char kColumns[] =
    "SELECT id, sync_pair, direction, status, dry_run, started_at, run_id FROM sync_iterations ";

Result<std::optional<IterationRow>> FirstRow(SqlConnection* conn, const std::string& where,
                                             const std::vector<SqlValue>& params) {
  auto rows = conn->QueryAll(std::string(kColumns) + where, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IterationRow>();
  const SqlRow& r = rows->front();
  IterationRow it;
  int64_t dry_run = 0;
  std::string started;
  if (!GetInt(r[0], &it.id) || !GetText(r[1], &it.pair) || !GetText(r[2], &it.direction) ||
      !GetText(r[3], &it.status) || !GetInt(r[4], &dry_run) || !GetText(r[5], &started) ||
      !ParseSqlTime(started, &it.started_at_ms)) {
    return Status::Error("unexpected values in sync_iterations (" + conn->Describe() + ")");
  }
  it.dry_run = dry_run != 0;
  GetText(r[6], &it.run_id);  // NULL in rows of the seed's tools
  return std::optional<IterationRow>(std::move(it));
}

}  // namespace

Result<std::optional<IterationRow>> FindIteration(SqlConnection* conn, int64_t id) {
  return FirstRow(conn, "WHERE id = ?", {id});
}

Result<std::optional<int64_t>> LatestUnappliedPlan(SqlConnection* conn, const std::string& pair,
                                                   const std::string& direction) {
  auto row = FirstRow(
      conn,
      "WHERE sync_pair = ? AND direction = ? AND dry_run = 1 AND status = 'success' AND id NOT IN "
      "(SELECT plan_id FROM sync_iterations WHERE plan_id IS NOT NULL AND status = 'success') "
      "ORDER BY started_at DESC, id DESC LIMIT 1",
      {FitColumn(pair, kMaxPairChars), FitColumn(direction, kMaxDirectionChars)});
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::optional<int64_t>();
  return std::optional<int64_t>((*row)->id);
}

Result<std::optional<IterationRow>> RealRunSince(SqlConnection* conn, const std::string& pair,
                                                 int64_t since_ms, int64_t plan_id) {
  return FirstRow(conn,
                  "WHERE sync_pair = ? AND dry_run = 0 AND started_at > ? AND "
                  "(plan_id IS NULL OR plan_id <> ?) ORDER BY started_at DESC, id DESC LIMIT 1",
                  {FitColumn(pair, kMaxPairChars), FormatSqlTime(since_ms), plan_id});
}

Result<std::optional<IterationRow>> LastApplyOf(SqlConnection* conn, int64_t plan_id) {
  return FirstRow(conn, "WHERE plan_id = ? ORDER BY started_at DESC, id DESC LIMIT 1", {plan_id});
}

}  // namespace ha_sync::audit
