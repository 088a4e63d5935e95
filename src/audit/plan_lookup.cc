#include "audit/plan_lookup.h"

#include "audit/schema.h"

namespace ha_sync::audit {

namespace {

constexpr char kColumns[] =
    "SELECT id, sync_pair, direction, status, dry_run, started_at, run_id, COALESCE(shard_index, 0), "
    "COALESCE(shard_count, 1) FROM sync_iterations ";

Result<IterationRow> ReadRow(SqlConnection* conn, const SqlRow& r) {
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
  int64_t shard_index = 0, shard_count = 1;
  if (!GetInt(r[7], &shard_index) || !GetInt(r[8], &shard_count)) {
    return Status::Error("unexpected shard values in sync_iterations (" + conn->Describe() + ")");
  }
  it.shard_index = static_cast<int>(shard_index);
  it.shard_count = static_cast<int>(shard_count);
  return it;
}

Result<std::vector<IterationRow>> Rows(SqlConnection* conn, const std::string& where,
                                       const std::vector<SqlValue>& params) {
  auto rows = conn->QueryAll(std::string(kColumns) + where, params);
  if (!rows.ok()) return rows.status();
  std::vector<IterationRow> out;
  for (const SqlRow& r : *rows) {
    auto row = ReadRow(conn, r);
    if (!row.ok()) return row.status();
    out.push_back(std::move(*row));
  }
  return out;
}

Result<std::optional<IterationRow>> FirstRow(SqlConnection* conn, const std::string& where,
                                             const std::vector<SqlValue>& params) {
  auto rows = Rows(conn, where, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IterationRow>();
  return std::optional<IterationRow>(std::move(rows->front()));
}

}  // namespace

Result<std::optional<IterationRow>> FindIteration(SqlConnection* conn, int64_t id) {
  return FirstRow(conn, "WHERE id = ?", {id});
}

Result<std::vector<IterationRow>> UnappliedPlans(SqlConnection* conn, const std::string& pair,
                                                 const std::string& direction, int shard_index,
                                                 int shard_count, int limit) {
  return Rows(conn,
              "WHERE sync_pair = ? AND direction = ? AND dry_run = 1 AND status = 'success' AND "
              "COALESCE(shard_count, 1) = ? AND COALESCE(shard_index, 0) = ? AND id NOT IN "
              "(SELECT plan_id FROM sync_iterations WHERE plan_id IS NOT NULL AND status = 'success') "
              "ORDER BY started_at DESC, id DESC LIMIT " + std::to_string(limit),
              {FitColumn(pair, kMaxPairChars), FitColumn(direction, kMaxDirectionChars),
               int64_t{shard_count}, int64_t{shard_index}});
}

Result<std::optional<int64_t>> LatestUnappliedPlan(SqlConnection* conn, const std::string& pair,
                                                   const std::string& direction, int shard_index,
                                                   int shard_count) {
  auto rows = UnappliedPlans(conn, pair, direction, shard_index, shard_count, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<int64_t>();
  return std::optional<int64_t>(rows->front().id);
}

Result<std::optional<IterationRow>> RealRunSince(SqlConnection* conn, const std::string& pair,
                                                 int64_t since_ms, int64_t plan_id, int shard_index,
                                                 int shard_count) {
  return FirstRow(conn,
                  "WHERE sync_pair = ? AND dry_run = 0 AND started_at > ? AND "
                  "(plan_id IS NULL OR plan_id <> ?) AND "
                  "NOT (COALESCE(shard_count, 1) = ? AND COALESCE(shard_index, 0) <> ?) "
                  "ORDER BY started_at DESC, id DESC LIMIT 1",
                  {FitColumn(pair, kMaxPairChars), FormatSqlTime(since_ms), plan_id, int64_t{shard_count},
                   int64_t{shard_index}});
}

Result<std::optional<IterationRow>> LastApplyOf(SqlConnection* conn, int64_t plan_id) {
  return FirstRow(conn, "WHERE plan_id = ? ORDER BY started_at DESC, id DESC LIMIT 1", {plan_id});
}

}  // namespace ha_sync::audit
