// Command-line options of `ha-sync`, parsed with Boost.Program_options and
// validated: a bad value is a UsageError (exit 64) with one clear line.
//
// Thread-safety: plain values; parse once in main.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ha_sync/env_lookup.h"

namespace ha_sync::cli {

struct Options {
  std::string src;
  std::string dest;
  std::string pair;
  std::string direction = "fwd";
  std::string db_dsn;  // flag, else env HA_SYNC_DB_DSN
  int64_t lock_ttl_seconds = 3600;
  std::string log_dir = "/var/log/ha-sync";
  int64_t log_retain_days = 10;
  double mtime_threshold_seconds = 2;
  bool delete_missing = false;
  int64_t workers = 0;  // --workers; 0: EffectiveWorkers picks from the roots' file systems
  bool dry_run = false;
  bool verbose = false;
  std::optional<int64_t> max_delete_count;
  std::optional<double> max_delete_percent;
  double max_vanished_percent = 50;  // --max-delete-percent (pipeline/root_guard.h)
  int64_t block_size = 1 << 20;
  // --io-engine: "auto" (io_uring when the kernel allows it, else threads
  // with one warning), "uring" (refusal is an error) or "threads"; the
  // default comes from env HA_SYNC_IO_ENGINE when set.
  std::string io_engine = "auto";
  size_t flush_batch_rows = 1000;  // env HA_SYNC_FLUSH_BATCH_ROWS (audit/audit_store.h)
  bool no_copy_file_range = false;  // --no-copy-file-range
  int64_t queue_depth = 4;  // --queue-depth: chunks in flight per large file (io_uring)
  bool fsync = false;
  bool progress = true;  // on a terminal only
  double min_age_seconds = 0;       // --min-age
  std::string require_marker;       // --require-marker
  std::vector<std::string> excluded;  // --exclude (relative paths)
  int64_t trash_retain_days = 14;   // --trash-retain-days (0: no trash)
  double clock_skew_warn_seconds = 2;
  std::string status_addr;          // --status-addr HOST:PORT: live /status and /metrics

  // Shards (docs/cli.md "Shards"): this run owns part `shard_index` of
  // `shard_count` (pipeline/shard.h); runs of one group share `run_group`.
  int shard_index = 0;
  int shard_count = 1;
  int64_t shards_from_env = 0;  // --shards N: the index comes from JOB_COMPLETION_INDEX
  std::string run_group;  // --run-group, else env HA_SYNC_RUN_GROUP

  // Lock (docs/cli.md "Lock"): auto = lease when KUBERNETES_SERVICE_HOST is set, else flock.
  std::string lock = "auto";
  std::string lease_namespace;  // empty: the service-account namespace file, else "infrastructure"
  int64_t lease_skew_margin_seconds = 60;
  int64_t lease_acquire_timeout_seconds = 30;
  std::string kube_api;  // https://HOST[:PORT]; empty: in-cluster environment
  std::string kube_token_file;
  std::string kube_ca;

  // --bench (docs/cli.md "Benchmark"): measure instead of syncing.
  bool bench = false;
  int64_t bench_seconds = 60;  // --bench-seconds: bound on the whole measurement
  std::string bench_json;      // --bench-json FILE: also write JSON there ("-": JSON on stdout)

  bool show_help = false;
  bool show_version = false;
};

struct ParseResult {
  Options options;
  std::string error;  // non-empty: usage error
  std::string help;   // the --help text
};

// `env` gives HA_SYNC_DB_DSN and HA_SYNC_IO_ENGINE (the defaults of
// --db-dsn and --io-engine); an empty lookup: neither is set.
ParseResult ParseOptions(const std::vector<std::string>& args, const EnvLookup& env);

// --workers as given, else 32 when src or dest is on a network file system
// (each file costs round trips there, and in-flight files hide them: 20k
// photos through a 300 us mount took 29.7 s with 4, 9.95 s with 16 and
// 7.92 s with 32, see perf/README.md), else 4 (local disks gain little from
// more). Reads the roots' file systems with statfs.
int64_t EffectiveWorkers(const Options& o);
// src or dest is on a network file system (statfs; see
// ha_sync/file_system_kind.h).
bool RootsOnNetwork(const Options& o);

// Lease names are DNS subdomains: [a-z0-9]([-a-z0-9.]*[a-z0-9])?, and
// "ha-sync-<pair>" must stay within 253 characters.
bool IsValidPairName(const std::string& pair);
// Namespaces are DNS labels: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool IsValidNamespace(const std::string& ns);

}  // namespace ha_sync::cli
