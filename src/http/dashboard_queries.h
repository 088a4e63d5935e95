// The dashboard's SELECTs on the audit tables (docs/schema.md), the same SQL
// text for MySQL/MariaDB and SQLite, values always bound. Nothing here
// writes.
//
// Ordering: iterations newest first (started_at descending, then id
// descending); operations in the order they were recorded (id ascending).
// Both are paged by keyset (the last row's id is the cursor): a page costs
// the same on row 10 and on row 10,000,000, and rows added meanwhile never
// shift a page.
//
// Thread-safety: functions use only the given connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/sql_connection.h"
#include "ha_sync/status.h"

namespace ha_sync::http {

// One run as the dashboard shows it: a sync_iterations row, or a whole
// sharded run merged from its shards' rows (run_groups.h). Read-only; not
// audit::IterationRow (audit/plan_lookup.h), the few columns apply needs.
struct IterationView {
  int64_t id = 0;
  std::optional<std::string> run_id;
  std::string pair;
  std::string direction;
  std::string src;
  std::string dest;
  int64_t started_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  std::string status;  // running | success | partial_failure | failed
  bool dry_run = false;
  int64_t files_created = 0;
  int64_t files_updated = 0;
  int64_t files_deleted = 0;
  int64_t files_skipped = 0;
  int64_t files_failed = 0;
  int64_t bytes_transferred = 0;
  std::optional<std::string> error_message;
  // The clock probe's readings (docs/safety.md); NULL for runs that did not
  // measure them (dry-runs, crashed runs, runs before the columns existed).
  std::optional<int64_t> clock_skew_ns;
  std::optional<int64_t> mtime_precision_ns;
  // `ha-sync apply` (docs/cli.md): the dry-run this run executed, and the
  // planned operations it skipped as stale; NULL for other runs and on
  // tables without the columns.
  std::optional<int64_t> plan_id;
  std::optional<int64_t> files_stale;
  // A shard of a sharded run (docs/cli.md "Shards"); NULL for other runs.
  std::optional<std::string> run_group;
  std::optional<int64_t> shard_index;
  std::optional<int64_t> shard_count;
  // Filled by run_groups.h for a whole sharded run: its shards' rows, by
  // shard index (the fields above are then the group's totals).
  std::vector<IterationView> shards;
};

struct OperationRow {
  int64_t id = 0;
  int64_t iteration_id = 0;
  bool dry_run = false;
  std::string operation;  // create | update | delete
  std::string filepath;   // as stored: text.h's EncodePathForText
  std::optional<int64_t> size_before;
  std::optional<int64_t> size_after;
  std::optional<std::string> md5_before;
  std::optional<std::string> md5_after;
  int64_t started_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  std::string status;  // success | fail
  std::optional<std::string> error_message;
};

// The newest (by started_at) finished iteration (status other than
// 'running') of every (pair, direction, dry_run), and the newest 'running'
// production iteration of every (pair, direction).
struct LatestRuns {
  std::vector<IterationView> finished;
  std::vector<IterationView> running;
};
Result<LatestRuns> QueryLatestRuns(audit::SqlConnection* conn);

// When each (pair, direction, dry_run) last ended with status 'success'.
struct LastSuccess {
  std::string pair;
  std::string direction;
  bool dry_run = false;
  int64_t ended_at_ms = 0;
};
Result<std::vector<LastSuccess>> QueryLastSuccesses(audit::SqlConnection* conn);

struct IterationFilter {
  std::optional<std::string> pair;
  std::optional<std::string> direction;
  std::optional<bool> dry_run;
  std::optional<std::string> status;
  std::optional<int64_t> before_id;  // only rows after this one in the order above
  int64_t limit = 20;
};
Result<std::vector<IterationView>> QueryIterations(audit::SqlConnection* conn,
                                                  const IterationFilter& filter);

Result<std::optional<IterationView>> QueryIteration(audit::SqlConnection* conn, int64_t id);

// Every row of the sharded run `shard` belongs to (same run_group, pair,
// direction and mode), by shard index; just `shard` when it has no group.
Result<std::vector<IterationView>> QueryGroupShards(audit::SqlConnection* conn, const IterationView& shard);

struct OperationFilter {
  int64_t iteration_id = 0;
  std::optional<std::string> status;  // success | fail
  int64_t after_id = 0;               // only ids above this
  int64_t limit = 100;
};
Result<std::vector<OperationRow>> QueryOperations(audit::SqlConnection* conn,
                                                  const OperationFilter& filter);

// Conflict copies (docs/safety.md) an iteration created: successful creates
// whose name contains ".ha-sync-conflict-".
Result<int64_t> CountConflictCopies(audit::SqlConnection* conn, int64_t iteration_id);

// Cheap query that fails when the database or the tables are unreachable.
Status PingAuditTables(audit::SqlConnection* conn);

// The marker in a conflict copy's name.
inline constexpr const char* kConflictMarker = ".ha-sync-conflict-";

}  // namespace ha_sync::http
