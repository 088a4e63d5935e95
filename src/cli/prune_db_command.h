// `ha-sync prune-db`: the audit database's retention (the seed's 30-day
// cleanup), meant for a weekly CronJob or a manual run.
//   ha-sync prune-db --older-than-days N [--db-dsn DSN] [--log-dir DIR]
// Deletes sync_operations rows that started more than N days ago, then the
// iterations older than that with no operation left (never a 'running' one),
// in small batches, so it is safe while syncs run (src/audit/audit_store.h).
//
// Thread-safety: call once, from main.
#pragma once

#include <string>
#include <vector>

namespace ha_sync::cli {

// Returns the exit code (0 done, 1 database error, 64 usage).
// `env_dsn` is HA_SYNC_DB_DSN (nullptr when unset).
int RunPruneDbCommand(const std::vector<std::string>& args, const char* env_dsn);

}  // namespace ha_sync::cli
