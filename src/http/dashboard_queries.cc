#include "http/dashboard_queries.h"

#include <atomic>

namespace ha_sync::http {

using audit::GetInt;
using audit::GetText;
using audit::IsNull;
using audit::SqlRow;
using audit::SqlValue;

namespace {

#define HA_SYNC_SEED_ITERATION_COLUMNS                                                     \
  "id, run_id, sync_pair, direction, src, dest, started_at, ended_at, status, dry_run, "   \
  "files_created, files_updated, files_deleted, files_skipped, files_failed, "             \
  "total_bytes_transferred, error_message, "
constexpr const char* kIterationColumns =
    HA_SYNC_SEED_ITERATION_COLUMNS
    "clock_skew_ns, mtime_precision_ns, plan_id, files_stale, run_group, shard_index, shard_count";
// The same on a table that ha-sync has not yet given the later columns (the
// dashboard was upgraded first; the next sync adds them): they read as NULL.
// The plan and shard columns came together, after the clock columns.
constexpr const char* kIterationColumnsWithoutPlan =
    HA_SYNC_SEED_ITERATION_COLUMNS "clock_skew_ns, mtime_precision_ns, NULL, NULL, NULL, NULL, NULL";
constexpr const char* kIterationColumnsWithoutClock =
    HA_SYNC_SEED_ITERATION_COLUMNS "NULL, NULL, NULL, NULL, NULL, NULL, NULL";
#undef HA_SYNC_SEED_ITERATION_COLUMNS

// Once the columns are seen they stay (columns are only ever added; the
// plan columns came after the clock columns).
std::atomic<bool> g_plan_columns_seen{false};

std::string IterationColumns(audit::SqlConnection* conn) {
  if (g_plan_columns_seen.load()) return kIterationColumns;
  if (conn->QueryAll("SELECT plan_id, files_stale, run_group, shard_index, shard_count "
                     "FROM sync_iterations WHERE 1 = 0")
          .ok()) {
    g_plan_columns_seen.store(true);
    return kIterationColumns;
  }
  if (conn->QueryAll("SELECT clock_skew_ns, mtime_precision_ns FROM sync_iterations WHERE 1 = 0").ok()) {
    return kIterationColumnsWithoutPlan;
  }
  return kIterationColumnsWithoutClock;
}

constexpr const char* kOperationColumns =
    "id, iteration_id, dry_run, operation, filepath, size_before, size_after, md5_before, "
    "md5_after, started_at, ended_at, status, error_message";

Status BadColumn(const char* table, const char* column) {
  return Status::Error(std::string("unexpected value in ") + table + "." + column);
}

// NULL counts (the seed's columns are nullable) read as 0.
int64_t IntOrZero(const SqlValue& v) {
  int64_t out = 0;
  return GetInt(v, &out) ? out : 0;
}

std::optional<int64_t> OptInt(const SqlValue& v) {
  int64_t out = 0;
  if (GetInt(v, &out)) return out;
  return std::nullopt;
}

std::optional<std::string> OptText(const SqlValue& v) {
  std::string out;
  if (GetText(v, &out)) return out;
  return std::nullopt;
}

bool Time(const SqlValue& v, int64_t* ms) {
  std::string text;
  return GetText(v, &text) && audit::ParseSqlTime(text, ms);
}

std::optional<int64_t> OptTime(const SqlValue& v) {
  int64_t ms = 0;
  if (Time(v, &ms)) return ms;
  return std::nullopt;
}

Result<IterationView> ReadIteration(const SqlRow& r) {
  IterationView it;
  if (r.size() != 24) return BadColumn("sync_iterations", "*");
  if (!GetInt(r[0], &it.id)) return BadColumn("sync_iterations", "id");
  it.run_id = OptText(r[1]);
  if (!GetText(r[2], &it.pair)) return BadColumn("sync_iterations", "sync_pair");
  if (!GetText(r[3], &it.direction)) return BadColumn("sync_iterations", "direction");
  if (!GetText(r[4], &it.src)) return BadColumn("sync_iterations", "src");
  if (!GetText(r[5], &it.dest)) return BadColumn("sync_iterations", "dest");
  if (!Time(r[6], &it.started_at_ms)) return BadColumn("sync_iterations", "started_at");
  it.ended_at_ms = OptTime(r[7]);
  if (!GetText(r[8], &it.status)) return BadColumn("sync_iterations", "status");
  it.dry_run = IntOrZero(r[9]) != 0;
  it.files_created = IntOrZero(r[10]);
  it.files_updated = IntOrZero(r[11]);
  it.files_deleted = IntOrZero(r[12]);
  it.files_skipped = IntOrZero(r[13]);
  it.files_failed = IntOrZero(r[14]);
  it.bytes_transferred = IntOrZero(r[15]);
  it.error_message = OptText(r[16]);
  it.clock_skew_ns = OptInt(r[17]);
  it.mtime_precision_ns = OptInt(r[18]);
  it.plan_id = OptInt(r[19]);
  it.files_stale = OptInt(r[20]);
  it.run_group = OptText(r[21]);
  it.shard_index = OptInt(r[22]);
  it.shard_count = OptInt(r[23]);
  return it;
}

Result<OperationRow> ReadOperation(const SqlRow& r) {
  OperationRow op;
  if (r.size() != 13) return BadColumn("sync_operations", "*");
  if (!GetInt(r[0], &op.id)) return BadColumn("sync_operations", "id");
  if (!GetInt(r[1], &op.iteration_id)) return BadColumn("sync_operations", "iteration_id");
  op.dry_run = IntOrZero(r[2]) != 0;
  if (!GetText(r[3], &op.operation)) return BadColumn("sync_operations", "operation");
  if (!GetText(r[4], &op.filepath)) return BadColumn("sync_operations", "filepath");
  op.size_before = OptInt(r[5]);
  op.size_after = OptInt(r[6]);
  op.md5_before = OptText(r[7]);
  op.md5_after = OptText(r[8]);
  if (!Time(r[9], &op.started_at_ms)) return BadColumn("sync_operations", "started_at");
  op.ended_at_ms = OptTime(r[10]);
  if (!GetText(r[11], &op.status)) return BadColumn("sync_operations", "status");
  op.error_message = OptText(r[12]);
  return op;
}

Result<std::vector<IterationView>> ReadIterations(audit::SqlConnection* conn,
                                                 const std::string& sql,
                                                 const std::vector<SqlValue>& params) {
  auto rows = conn->QueryAll(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<IterationView> out;
  out.reserve(rows->size());
  for (const SqlRow& r : *rows) {
    auto it = ReadIteration(r);
    if (!it.ok()) return it.status();
    out.push_back(std::move(*it));
  }
  return out;
}

// The newest iteration (by started_at, then id) of each group the WHERE
// condition selects, grouped by pair, direction and mode.
Result<std::vector<IterationView>> NewestPerGroup(audit::SqlConnection* conn, const char* where) {
  const std::string sql =
      std::string("SELECT ") + IterationColumns(conn) +
      " FROM sync_iterations JOIN (SELECT sync_pair AS g_pair, direction AS g_direction, "
      "dry_run AS g_dry_run, MAX(started_at) AS g_started FROM sync_iterations WHERE " + where +
      " GROUP BY sync_pair, direction, dry_run) newest ON sync_pair = g_pair AND direction = "
      "g_direction AND dry_run = g_dry_run AND started_at = g_started WHERE " + where +
      " ORDER BY sync_pair, direction, dry_run, id DESC";
  auto rows = ReadIterations(conn, sql, {});
  if (!rows.ok()) return rows.status();
  // Two runs that started in the same millisecond: the later recorded one.
  std::vector<IterationView> out;
  for (IterationView& r : *rows) {
    if (!out.empty() && out.back().pair == r.pair && out.back().direction == r.direction &&
        out.back().dry_run == r.dry_run) {
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<LatestRuns> QueryLatestRuns(audit::SqlConnection* conn) {
  LatestRuns out;
  auto finished = NewestPerGroup(conn, "status <> 'running'");
  if (!finished.ok()) return finished.status();
  auto running = NewestPerGroup(conn, "status = 'running' AND dry_run = 0");
  if (!running.ok()) return running.status();
  out.finished = std::move(*finished);
  out.running = std::move(*running);
  return out;
}

Result<std::vector<LastSuccess>> QueryLastSuccesses(audit::SqlConnection* conn) {
  auto rows = conn->QueryAll(
      "SELECT sync_pair, direction, dry_run, MAX(ended_at) FROM sync_iterations "
      "WHERE status = 'success' AND ended_at IS NOT NULL GROUP BY sync_pair, direction, dry_run");
  if (!rows.ok()) return rows.status();
  std::vector<LastSuccess> out;
  for (const SqlRow& r : *rows) {
    LastSuccess s;
    if (r.size() != 4 || !GetText(r[0], &s.pair) || !GetText(r[1], &s.direction) ||
        !Time(r[3], &s.ended_at_ms)) {
      return BadColumn("sync_iterations", "last success");
    }
    s.dry_run = IntOrZero(r[2]) != 0;
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<IterationView>> QueryIterations(audit::SqlConnection* conn,
                                                  const IterationFilter& filter) {
  std::string sql = std::string("SELECT ") + IterationColumns(conn) + " FROM sync_iterations WHERE 1 = 1";
  std::vector<SqlValue> params;
  if (filter.pair) {
    sql += " AND sync_pair = ?";
    params.emplace_back(*filter.pair);
  }
  if (filter.direction) {
    sql += " AND direction = ?";
    params.emplace_back(*filter.direction);
  }
  if (filter.dry_run) {
    sql += " AND dry_run = ?";
    params.emplace_back(static_cast<int64_t>(*filter.dry_run ? 1 : 0));
  }
  if (filter.status) {
    sql += " AND status = ?";
    params.emplace_back(*filter.status);
  }
  if (filter.before_id) {
    // After the row `before_id` in (started_at DESC, id DESC) order.
    sql +=
        " AND (started_at < (SELECT c.started_at FROM sync_iterations c WHERE c.id = ?) OR "
        "(started_at = (SELECT c.started_at FROM sync_iterations c WHERE c.id = ?) AND id < ?))";
    params.emplace_back(*filter.before_id);
    params.emplace_back(*filter.before_id);
    params.emplace_back(*filter.before_id);
  }
  sql += " ORDER BY started_at DESC, id DESC LIMIT ?";
  params.emplace_back(filter.limit);
  return ReadIterations(conn, sql, params);
}

Result<std::vector<IterationView>> QueryGroupShards(audit::SqlConnection* conn, const IterationView& shard) {
  if (!shard.run_group) return std::vector<IterationView>{shard};
  return ReadIterations(conn,
                        std::string("SELECT ") + IterationColumns(conn) +
                            " FROM sync_iterations WHERE run_group = ? AND sync_pair = ? AND "
                            "direction = ? AND dry_run = ? ORDER BY shard_index, id",
                        {SqlValue(*shard.run_group), SqlValue(shard.pair), SqlValue(shard.direction),
                         SqlValue(int64_t{shard.dry_run ? 1 : 0})});
}

Result<std::optional<IterationView>> QueryIteration(audit::SqlConnection* conn, int64_t id) {
  auto rows = ReadIterations(
      conn, std::string("SELECT ") + IterationColumns(conn) + " FROM sync_iterations WHERE id = ?",
      {SqlValue(id)});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IterationView>();
  return std::optional<IterationView>(std::move(rows->front()));
}

Result<std::vector<OperationRow>> QueryOperations(audit::SqlConnection* conn,
                                                  const OperationFilter& filter) {
  std::string sql = std::string("SELECT ") + kOperationColumns +
                    " FROM sync_operations WHERE iteration_id = ? AND id > ?";
  std::vector<SqlValue> params{SqlValue(filter.iteration_id), SqlValue(filter.after_id)};
  if (filter.status) {
    sql += " AND status = ?";
    params.emplace_back(*filter.status);
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(filter.limit);
  auto rows = conn->QueryAll(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<OperationRow> out;
  out.reserve(rows->size());
  for (const SqlRow& r : *rows) {
    auto op = ReadOperation(r);
    if (!op.ok()) return op.status();
    out.push_back(std::move(*op));
  }
  return out;
}

Result<int64_t> CountConflictCopies(audit::SqlConnection* conn, int64_t iteration_id) {
  auto rows = conn->QueryAll(
      "SELECT COUNT(*) FROM sync_operations WHERE iteration_id = ? AND operation = 'create' "
      "AND status = 'success' AND filepath LIKE ?",
      {SqlValue(iteration_id), SqlValue(std::string("%") + kConflictMarker + "%")});
  if (!rows.ok()) return rows.status();
  int64_t n = 0;
  if (rows->empty() || rows->front().empty() || !GetInt(rows->front()[0], &n)) {
    return BadColumn("sync_operations", "COUNT(*)");
  }
  return n;
}

Status PingAuditTables(audit::SqlConnection* conn) {
  auto rows = conn->QueryAll("SELECT COUNT(*) FROM sync_iterations WHERE id = 0");
  return rows.ok() ? Status::Ok() : rows.status();
}

}  // namespace ha_sync::http
