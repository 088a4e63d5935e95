// The audit side of one run (docs/cli.md, "Audit files" and "Audit
// database"), as src/cli/run.cc uses it:
//
//   Begin()   connects to the database named by the DSN (empty: SQLite at
//             <log-dir>/ha-sync.db), flushes this pair's leftover opslogs
//             (oldest first; one without a footer becomes a 'failed' run),
//             creates this run's opslog and, for a production run, inserts
//             its iteration as 'running' so a live run is visible.
//   opslog()  where the run appends its operations (one line each).
//   Finish()  writes the footer; for a dry-run that succeeded, compares its
//             plan (filepath + operation + size_before) with the last
//             successful dry-run of the same pair and direction: identical
//             -> the opslog is deleted and nothing is written; otherwise
//             flushes this run's opslog (FlushOpslog) and deletes it.
//
// The database never decides the run's fate: when it cannot be reached or
// a write fails, one warning is printed (never the password), the opslog is
// kept for the next run of the pair, and the exit code reflects the sync
// only. Dry-runs do not insert a 'running' row (an unchanged dry-run must
// write nothing).
//
// Thread-safety: Begin/Finish from the run's main thread; opslog() is
// thread-safe (OpslogWriter).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "audit/opslog_writer.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

class AuditRun {
 public:
  struct Config {
    std::string db_dsn;  // as given (flag or HA_SYNC_DB_DSN); empty = SQLite in log_dir
    std::string log_dir;
    size_t flush_batch_rows = AuditStore::kDefaultBatchRows;
  };
  using Say = std::function<void(const std::string& line)>;

  // Fails only when the opslog cannot be created (the run must not start).
  static Result<std::unique_ptr<AuditRun>> Begin(const Config& config, const RunHeader& header,
                                                 Say info, Say warn);

  OpslogWriter* opslog() { return opslog_.get(); }
  const std::string& opslog_path() const { return opslog_path_; }

  struct Outcome {
    bool stored = false;           // the run's rows are in the database
    int64_t iteration_id = 0;      // its sync_iterations.id when this Finish wrote it
    bool dry_run_current = false;  // unchanged dry-run: nothing written
    int64_t current_as_of_ms = 0;  // started_at of the dry-run it matches
    std::string current_run_id;    // and its run_id (empty when NULL)
    int64_t current_id = 0;        // and its id (the plan id, docs/cli.md)
  };
  // For a successful dry-run whose operations match the last one's: whether
  // the plan as a whole is that run's unchanged (given its run id); when it
  // is not (other roots, other preconditions), this dry-run is stored as a
  // plan of its own. Not given: the operations decide alone.
  using SamePlanAs = std::function<bool(const std::string& kept_run_id)>;
  Outcome Finish(const RunFooter& footer, const SamePlanAs& same_plan_as = nullptr);

  // "Dry-run already current as of <started_at>. Nothing has changed."
  static std::string AlreadyCurrentMessage(int64_t started_at_ms);

 private:
  AuditRun(Config config, RunHeader header, Say info, Say warn)
      : config_(std::move(config)), header_(std::move(header)), info_(std::move(info)),
        warn_(std::move(warn)) {}
  bool Connect();
  void WarnDb(const std::string& what);
  void FlushLeftovers();
  Result<bool> DryRunIsCurrent(Outcome* outcome, const SamePlanAs& same_plan_as);

  const Config config_;
  const RunHeader header_;
  Say info_;
  Say warn_;
  Dsn dsn_;
  bool dsn_ok_ = false;
  std::unique_ptr<AuditStore> store_;
  std::unique_ptr<OpslogWriter> opslog_;
  std::string opslog_path_;
  bool warned_ = false;
  bool leftovers_done_ = false;
};

}  // namespace ha_sync::audit
