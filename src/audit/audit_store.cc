#include "audit/audit_store.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "audit/fault_points.h"
#include "ha_sync/text.h"
#include "audit/schema.h"

namespace ha_sync::audit {

namespace {

SqlValue OptInt(const std::optional<int64_t>& v) {
  return v ? SqlValue(*v) : SqlValue(nullptr);
}
SqlValue OptText(const std::optional<std::string>& v, size_t max_chars) {
  return v ? SqlValue(FitColumn(*v, max_chars)) : SqlValue(nullptr);
}
int64_t ClampInt(int64_t v) { return std::clamp<int64_t>(v, 0, INT_MAX); }

constexpr int kOpColumns = 12;

}  // namespace

Result<size_t> AuditStore::BatchRowsFromText(const char* text) {
  if (text == nullptr) return kDefaultBatchRows;
  const std::string s = text;
  if (!s.empty() && s.size() <= 4 && s.find_first_not_of("0123456789") == std::string::npos) {
    const size_t n = static_cast<size_t>(std::stoul(s));
    if (n >= 1 && n <= kMaxBatchRows) return n;
  }
  return Status::Error("env HA_SYNC_FLUSH_BATCH_ROWS must be a whole number from 1 to " +
                       std::to_string(kMaxBatchRows) + ", got '" + EscapeForDisplay(s) + "'");
}

Result<std::unique_ptr<AuditStore>> AuditStore::Open(const Dsn& dsn, size_t batch_rows) {
  auto conn = OpenSqlConnection(dsn);
  if (!conn.ok()) return conn.status();
  if (Status s = EnsureSchema(conn->get()); !s.ok()) {
    return Status::Error("create the audit schema: " + s.message());
  }
  std::unique_ptr<AuditStore> store(new AuditStore(std::move(*conn), dsn));
  store->batch_rows_ = batch_rows >= 1 && batch_rows <= kMaxBatchRows ? batch_rows : kDefaultBatchRows;
  return store;
}

Status AuditStore::InsertIteration(const RunHeader& h) {
  return conn_->Exec(
      "INSERT INTO sync_iterations (sync_pair, direction, src, dest, started_at, status, dry_run, "
      "run_id, plan_id, run_group, shard_index, shard_count) "
      "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
      {FitColumn(h.pair, kMaxPairChars), FitColumn(h.direction, kMaxDirectionChars),
       FitColumn(h.src, kMaxRootChars), FitColumn(h.dest, kMaxRootChars),
       FormatSqlTime(h.started_at_ms), int64_t{h.dry_run ? 1 : 0}, h.run_id,
       h.plan_id ? SqlValue(*h.plan_id) : SqlValue(nullptr),
       h.shard_count > 1 ? SqlValue(h.run_group) : SqlValue(nullptr),
       h.shard_count > 1 ? SqlValue(int64_t{h.shard_index}) : SqlValue(nullptr),
       h.shard_count > 1 ? SqlValue(int64_t{h.shard_count}) : SqlValue(nullptr)});
}

Status AuditStore::InsertRunning(const RunHeader& header) {
  auto rows = conn_->QueryAll("SELECT id FROM sync_iterations WHERE run_id = ?", {header.run_id});
  if (!rows.ok()) return rows.status();
  if (!rows->empty()) return Status::Ok();
  Status s = InsertIteration(header);
  if (s.ok()) FaultPoint("run.iteration_started");
  return s;
}

Result<std::optional<IterationRef>> AuditStore::LastSuccessfulDryRun(const std::string& pair,
                                                                     const std::string& direction,
                                                                     int shard_index, int shard_count) {
  // A shard's plan is compared with the same shard's last dry-run only.
  auto rows = conn_->QueryAll(
      "SELECT id, started_at, run_id FROM sync_iterations WHERE sync_pair = ? AND direction = ? AND "
      "dry_run = 1 AND status = 'success' AND COALESCE(shard_count, 1) = ? AND "
      "COALESCE(shard_index, 0) = ? ORDER BY started_at DESC, id DESC LIMIT 1",
      {FitColumn(pair, kMaxPairChars), FitColumn(direction, kMaxDirectionChars),
       int64_t{shard_count}, int64_t{shard_index}});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<IterationRef>();
  IterationRef ref;
  std::string started;
  if (!GetInt(rows->front()[0], &ref.id) || !GetText(rows->front()[1], &started) ||
      !ParseSqlTime(started, &ref.started_at_ms)) {
    return Status::Error("unexpected values in sync_iterations (" + conn_->Describe() + ")");
  }
  GetText(rows->front()[2], &ref.run_id);  // NULL in rows of the seed's tools
  return std::optional<IterationRef>(ref);
}

Result<PlanDigest> AuditStore::PlanOf(int64_t iteration_id) {
  auto stmt = conn_->Prepare(
      "SELECT filepath, operation, size_before FROM sync_operations WHERE iteration_id = ?");
  if (!stmt.ok()) return stmt.status();
  if (Status s = (*stmt)->Execute({iteration_id}); !s.ok()) return s;
  PlanDigest digest;
  SqlRow row;
  for (;;) {
    auto more = (*stmt)->Next(&row);
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::string path, op;
    int64_t size = 0;
    GetText(row[0], &path);
    GetText(row[1], &op);
    digest.Add(path, op, GetInt(row[2], &size) ? std::optional<int64_t>(size) : std::nullopt);
  }
  return digest;
}

Result<PruneResult> AuditStore::Prune(int64_t cutoff_ms, int64_t batch) {
  PruneResult result;
  const std::string cutoff = FormatSqlTime(cutoff_ms);
  // Operations start after their iteration, so only iterations that started
  // before the cutoff can hold operations to prune (idx_started, then
  // idx_iteration: no scan of sync_operations).
  auto ids = conn_->QueryAll(
      "SELECT id FROM sync_iterations WHERE started_at < ? AND status <> 'running' ORDER BY id",
      {cutoff});
  if (!ids.ok()) return ids.status();
  const bool mysql = conn_->dialect() == SqlDialect::kMySql;
  auto del_ops = conn_->Prepare(
      mysql ? "DELETE FROM sync_operations WHERE iteration_id = ? AND started_at < ? LIMIT ?"
            : "DELETE FROM sync_operations WHERE id IN (SELECT id FROM sync_operations WHERE "
              "iteration_id = ? AND started_at < ? LIMIT ?)");
  if (!del_ops.ok()) return del_ops.status();
  auto del_iteration = conn_->Prepare(
      "DELETE FROM sync_iterations WHERE id = ? AND started_at < ? AND status <> 'running' AND "
      "NOT EXISTS (SELECT 1 FROM sync_operations WHERE iteration_id = ?)");
  if (!del_iteration.ok()) return del_iteration.status();
  for (const SqlRow& row : *ids) {
    int64_t id = 0;
    if (!GetInt(row[0], &id)) continue;
    for (;;) {
      if (Status s = (*del_ops)->Execute({id, cutoff, batch}); !s.ok()) return s;
      result.operations_deleted += (*del_ops)->affected_rows();
      if ((*del_ops)->affected_rows() < batch) break;
    }
    if (Status s = (*del_iteration)->Execute({id, cutoff, id}); !s.ok()) return s;
    result.iterations_deleted += (*del_iteration)->affected_rows();
  }
  return result;
}

std::string AuditStore::InsertOpsSql(size_t rows) {
  std::string sql =
      "INSERT INTO sync_operations (iteration_id, dry_run, operation, filepath, size_before, "
      "size_after, md5_before, md5_after, started_at, ended_at, status, error_message) VALUES ";
  for (size_t i = 0; i < rows; ++i) {
    sql += i == 0 ? "(?,?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?,?)";
  }
  return sql;
}

AuditStore::RunWriter::RunWriter(AuditStore* store) : store_(store) {}

AuditStore::RunWriter::~RunWriter() { Rollback(); }

void AuditStore::RunWriter::Rollback() {
  if (in_flight_.valid()) in_flight_.wait();
  if (!open_) return;
  open_ = false;
  (void)store_->conn_->Rollback();
}

Status AuditStore::RunWriter::Start(const RunHeader& header, bool* already_final) {
  *already_final = false;
  SqlConnection* conn = store_->conn_.get();
  if (Status s = conn->Begin(); !s.ok()) return s;
  open_ = true;
  // A plain read first: locking reads of a missing key would take gap locks
  // that deadlock two flushers inserting different runs. Two flushers of the
  // same run cannot meet here (the opslog's flock), and if they did, the
  // unique run_id would fail the second INSERT and roll it back.
  auto rows = conn->QueryAll("SELECT id, status FROM sync_iterations WHERE run_id = ?",
                             {header.run_id});
  if (!rows.ok()) {
    Rollback();
    return rows.status();
  }
  if (!rows->empty()) {
    std::string status;
    GetInt(rows->front()[0], &iteration_id_);
    GetText(rows->front()[1], &status);
    if (status != "running") {
      Rollback();
      *already_final = true;
      return Status::Ok();
    }
    // Lock our own row (a record lock on an existing key) for the flush.
    if (conn->dialect() == SqlDialect::kMySql) {
      auto locked = conn->QueryAll(
          "SELECT status FROM sync_iterations WHERE id = ? FOR UPDATE", {iteration_id_});
      std::string now;
      if (!locked.ok() || locked->empty() || !GetText(locked->front()[0], &now) ||
          now != "running") {
        Rollback();
        if (!locked.ok()) return locked.status();
        *already_final = true;
        return Status::Ok();
      }
    }
  } else {
    if (Status s = store_->InsertIteration(header); !s.ok()) {
      Rollback();
      return s;
    }
    iteration_id_ = conn->LastInsertId();
  }
  FaultPoint("flush.iteration_written");
  pending_.reserve(store_->batch_rows_ * kOpColumns);
  return Status::Ok();
}

Status AuditStore::RunWriter::Add(const OpRecord& op) {
  if (!open_) return Status::Error("audit flush: no transaction");
  const std::string path = StoredFilepath(op.filepath);
  pending_bytes_ += path.size() + (op.error_message ? op.error_message->size() : 0) + 160;
  pending_.push_back(iteration_id_);
  pending_.push_back(int64_t{op.dry_run ? 1 : 0});
  pending_.push_back(std::string(ToString(op.operation)));
  pending_.push_back(path);
  pending_.push_back(OptInt(op.size_before));
  pending_.push_back(OptInt(op.size_after));
  pending_.push_back(op.md5_before ? SqlValue(*op.md5_before) : SqlValue(nullptr));
  pending_.push_back(op.md5_after ? SqlValue(*op.md5_after) : SqlValue(nullptr));
  pending_.push_back(FormatSqlTime(op.started_at_ms));
  pending_.push_back(op.ended_at_ms ? SqlValue(FormatSqlTime(*op.ended_at_ms)) : SqlValue(nullptr));
  pending_.push_back(std::string(ToString(op.status)));
  pending_.push_back(OptText(op.error_message, kMaxOpErrorChars));
  ++pending_rows_;
  if (pending_rows_ >= store_->batch_rows_ || pending_bytes_ >= kBatchBytes) return FlushBatch();
  return Status::Ok();
}

Status AuditStore::RunWriter::WaitInFlight() {
  if (!in_flight_.valid()) return Status::Ok();
  Status s = in_flight_.get();
  if (!s.ok()) {
    Rollback();
    return s;
  }
  rows_ += static_cast<int64_t>(in_flight_rows_);
  in_flight_rows_ = 0;
  FaultPoint("flush.batch");
  return Status::Ok();
}

Status AuditStore::RunWriter::FlushBatch() {
  if (Status s = WaitInFlight(); !s.ok()) return s;
  if (pending_rows_ == 0) return Status::Ok();
  SqlConnection* conn = store_->conn_.get();
  SqlStatement* stmt;
  if (pending_rows_ == store_->batch_rows_) {
    if (!full_batch_) {
      auto prepared = conn->Prepare(InsertOpsSql(store_->batch_rows_));
      if (!prepared.ok()) {
        Rollback();
        return prepared.status();
      }
      full_batch_ = std::move(*prepared);
    }
    stmt = full_batch_.get();
  } else {
    auto prepared = conn->Prepare(InsertOpsSql(pending_rows_));
    if (!prepared.ok()) {
      Rollback();
      return prepared.status();
    }
    partial_batch_ = std::move(*prepared);
    stmt = partial_batch_.get();
  }
  std::swap(pending_, in_flight_values_);
  pending_.clear();
  in_flight_rows_ = pending_rows_;
  pending_rows_ = 0;
  pending_bytes_ = 0;
  in_flight_ = std::async(std::launch::async,
                          [stmt, this] { return stmt->Execute(in_flight_values_); });
  return Status::Ok();
}

Status AuditStore::RunWriter::Finish(const RunFooter& f) {
  if (!open_) return Status::Error("audit flush: no transaction");
  if (Status s = FlushBatch(); !s.ok()) return s;
  if (Status s = WaitInFlight(); !s.ok()) return s;
  SqlConnection* conn = store_->conn_.get();
  Status s = conn->Exec(
      "UPDATE sync_iterations SET status = ?, ended_at = ?, files_created = ?, files_updated = ?, "
      "files_deleted = ?, files_skipped = ?, files_failed = ?, total_bytes_transferred = ?, "
      "error_message = ?, clock_skew_ns = ?, mtime_precision_ns = ?, files_stale = ? WHERE id = ?",
      {std::string(ToString(f.status)), FormatSqlTime(f.ended_at_ms), ClampInt(f.counts.created),
       ClampInt(f.counts.updated), ClampInt(f.counts.deleted), ClampInt(f.counts.skipped),
       ClampInt(f.counts.failed), f.counts.bytes_transferred,
       OptText(f.error_message, kMaxRunErrorChars), OptInt(f.clock_skew_ns),
       OptInt(f.mtime_precision_ns), ClampInt(f.counts.stale), iteration_id_});
  if (!s.ok()) {
    Rollback();
    return s;
  }
  full_batch_.reset();
  partial_batch_.reset();
  FaultPoint("flush.before_commit");
  s = conn->Commit();
  open_ = false;
  if (!s.ok()) {
    (void)conn->Rollback();
    return s;
  }
  FaultPoint("flush.committed");
  return Status::Ok();
}

}  // namespace ha_sync::audit
