// The audit tables as the sync uses them (both dialects, one code path):
// open + schema, the 'running' row of a live run, the transactional write of
// a whole run (RunWriter), the dry-run lookups, and pruning.
//
// Exactly-once rests on two rules kept here:
//  - a run's operation rows and its final status are written in ONE
//    transaction (RunWriter); an iteration is either 'running' with no
//    operation rows, or final with all of them;
//  - an iteration is found by its unique run_id, so a flush that sees a final
//    status knows its rows are in and writes nothing.
//
// Thread-safety: one thread per store (it owns one connection).
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "audit/plan_digest.h"
#include "audit/sql_connection.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

struct IterationRef {
  int64_t id = 0;
  int64_t started_at_ms = 0;
  std::string run_id;  // empty when NULL
};

struct PruneResult {
  int64_t operations_deleted = 0;
  int64_t iterations_deleted = 0;
};

class AuditStore {
 public:
  // Connects and creates the schema when missing.
  // `batch_rows`: rows per multi-row INSERT (see kDefaultBatchRows).
  static Result<std::unique_ptr<AuditStore>> Open(const Dsn& dsn,
                                                  size_t batch_rows = kDefaultBatchRows);

  SqlConnection* connection() { return conn_.get(); }
  const Dsn& dsn() const { return dsn_; }

  // A production run's iteration, inserted at its start as 'running' so a
  // live run is visible. A row with this run_id already present is fine.
  Status InsertRunning(const RunHeader& header);

  // The last dry-run of pair+direction (and of the same shard of a run of
  // as many shards; unsharded: 0 of 1) with status 'success' (dry_run = 1
  // rows only; production never reads dry-run rows).
  Result<std::optional<IterationRef>> LastSuccessfulDryRun(const std::string& pair,
                                                           const std::string& direction,
                                                           int shard_index = 0, int shard_count = 1);
  // The plan stored for an iteration: filepath + operation + size_before.
  Result<PlanDigest> PlanOf(int64_t iteration_id);

  // Deletes sync_operations rows that started before `cutoff_ms`, in
  // batches of `batch` rows (each its own short transaction, so running
  // syncs are never blocked for long), then the iterations older than the
  // cutoff that have no operation left and are not 'running'.
  Result<PruneResult> Prune(int64_t cutoff_ms, int64_t batch = 10000);

  // Writes one run: Start() opens the transaction and finds or inserts the
  // iteration; Add() batches operation rows into multi-row INSERTs (sent
  // while the next batch is being prepared);
  // Finish() writes the last batch and the final status and commits. Any
  // error (and destruction without Finish) rolls back: nothing is written.
  class RunWriter {
   public:
    explicit RunWriter(AuditStore* store);
    ~RunWriter();
    // *already_final: the run's rows were committed by an earlier flush;
    // nothing may be added (the transaction is already closed).
    Status Start(const RunHeader& header, bool* already_final);
    Status Add(const OpRecord& op);
    Status Finish(const RunFooter& footer);
    int64_t iteration_id() const { return iteration_id_; }
    int64_t rows() const { return rows_; }

   private:
    // Sends the pending rows. The INSERT runs on a helper thread while the
    // caller parses the next batch (the connection is handed over, never
    // shared: every other use of it waits for the batch in flight first).
    Status FlushBatch();
    Status WaitInFlight();
    void Rollback();

    AuditStore* store_;
    bool open_ = false;
    int64_t iteration_id_ = 0;
    int64_t rows_ = 0;
    std::vector<SqlValue> pending_;
    size_t pending_rows_ = 0;
    size_t pending_bytes_ = 0;
    std::unique_ptr<SqlStatement> full_batch_;
    std::unique_ptr<SqlStatement> partial_batch_;
    std::vector<SqlValue> in_flight_values_;
    size_t in_flight_rows_ = 0;
    std::future<Status> in_flight_;
  };

  // Rows per multi-row INSERT: 1000, or what Open is given (1-5000: 12
  // placeholders a row must stay under MySQL's 65535; other values fall
  // back to 1000). A batch is also cut at kBatchBytes of data, well below
  // max_allowed_packet (16 MiB). ha-sync's main() passes env
  // HA_SYNC_FLUSH_BATCH_ROWS through BatchRowsFromText, so tests can make
  // a flush write many batches.
  static constexpr size_t kDefaultBatchRows = 1000;
  static constexpr size_t kMaxBatchRows = 5000;
  // `text` (nullptr: unset, kDefaultBatchRows) as a batch size; an error
  // naming the variable when it is not a whole number in 1..kMaxBatchRows
  // (set but empty included: never a quiet default).
  static Result<size_t> BatchRowsFromText(const char* text);
  static constexpr size_t kBatchBytes = 4 << 20;
  size_t batch_rows() const { return batch_rows_; }

 private:
  AuditStore(std::unique_ptr<SqlConnection> conn, Dsn dsn)
      : conn_(std::move(conn)), dsn_(std::move(dsn)) {}
  Status InsertIteration(const RunHeader& header);
  static std::string InsertOpsSql(size_t rows);

  std::unique_ptr<SqlConnection> conn_;
  const Dsn dsn_;
  size_t batch_rows_ = kDefaultBatchRows;
};

}  // namespace ha_sync::audit
