// The audit records every folder shares: one OpRecord per file operation
// (the fields of the sync_operations table), and a RunHeader and a
// RunFooter per run (the fields of sync_iterations). Times are UTC, milliseconds since the epoch.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ha_sync/utc_time.h"

namespace ha_sync {

enum class OpKind { kCreate, kUpdate, kDelete };
enum class OpStatus { kSuccess, kFail };
enum class RunStatus { kRunning, kSuccess, kPartialFailure, kFailed };

const char* ToString(OpKind kind);      // "create" | "update" | "delete"
const char* ToString(OpStatus status);  // "success" | "fail"
const char* ToString(RunStatus status); // "running" | "success" | "partial_failure" | "failed"
bool ParseOpKind(const std::string& text, OpKind* out);
bool ParseOpStatus(const std::string& text, OpStatus* out);
bool ParseRunStatus(const std::string& text, RunStatus* out);

struct OpRecord {
  OpKind operation = OpKind::kCreate;
  std::string filepath;  // relative to the roots, raw bytes (see ha_sync/text.h)
  std::optional<int64_t> size_before;
  std::optional<int64_t> size_after;
  std::optional<std::string> md5_before;  // 32 lowercase hex
  std::optional<std::string> md5_after;
  int64_t started_at_ms = 0;
  std::optional<int64_t> ended_at_ms;
  OpStatus status = OpStatus::kSuccess;
  std::optional<std::string> error_message;
  bool dry_run = false;
  // Bytes actually written to dest by this operation (not a table column;
  // summed into total_bytes_transferred).
  int64_t bytes_transferred = 0;
};

struct RunCounts {
  int64_t created = 0;
  int64_t updated = 0;
  int64_t deleted = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  int64_t bytes_transferred = 0;
  // `ha-sync apply`: planned operations skipped because a precondition
  // changed since the plan (also counted in `skipped`).
  int64_t stale = 0;

  // Counts one finished operation (success goes to its kind, fail to failed).
  void Add(const OpRecord& op);
};

// The direction `ha-sync undo` records its runs under: a one-off, never a
// direction that must run regularly (the dashboard and /metrics leave it
// out of staleness).
inline constexpr char kUndoDirection[] = "undo";

struct RunHeader {
  std::string run_id;  // 32 hex chars, unique per process start
  std::string pair;
  std::string direction;
  std::string src;
  std::string dest;
  int64_t started_at_ms = 0;
  bool dry_run = false;
  // `ha-sync apply`: the id (sync_iterations.id) of the dry-run it executes.
  std::optional<int64_t> plan_id;
  // A shard of a sharded run (docs/cli.md "Shards"): the group id the
  // shards share, and which part of how many this run is. shard_count 1:
  // not sharded (no group).
  std::string run_group{};
  int shard_index = 0;
  int shard_count = 1;
};

struct RunFooter {
  RunStatus status = RunStatus::kRunning;
  int64_t ended_at_ms = 0;
  RunCounts counts;
  std::optional<std::string> error_message;
  // From the clock probe (docs/safety.md): skew between the mtime clocks of
  // the two roots, and the coarsest mtime precision they keep.
  std::optional<int64_t> clock_skew_ns;
  std::optional<int64_t> mtime_precision_ns;
};

// Milliseconds since the epoch, system clock (text: ha_sync/utc_time.h).
int64_t NowMs();

}  // namespace ha_sync
