#include "cli/prune_db_command.h"

#include <cstdio>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "cli/run.h"
#include "ha_sync/flag_table.h"

namespace ha_sync::cli {
int RunPruneDbCommand(const std::vector<std::string>& args, const char* env_dsn) {
  std::string db_dsn, log_dir = "/var/log/ha-sync";
  int64_t days = 0;
  bool help = false;
  FlagTable t(
      "Usage: ha-sync prune-db --older-than-days N [--db-dsn DSN] [--log-dir DIR]\n\n"
      "Deletes audit rows of operations older than N days, then the runs older than\n"
      "that which have no operation left. Safe while syncs run.\n\nOptions");
  // clang-format off
  t.Count("older-than-days", "N", "age limit in days (1 or more); required", 1, 999999, &days, "days")
   .Text("db-dsn", "DSN", "audit database (default: env HA_SYNC_DB_DSN, else SQLite in --log-dir)", &db_dsn)
   .Text("log-dir", "DIR", "where the default SQLite file lives (default: /var/log/ha-sync)", &log_dir)
   .Switch("help", "print this help", &help);
  // clang-format on
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "ha-sync prune-db: %s\nTry 'ha-sync prune-db --help'.\n", message.c_str());
    return kExitUsage;
  };
  if (std::string e = t.Parse(std::vector<std::string>(args.begin() + 2, args.end())); !e.empty()) {
    return usage(e);
  }
  if (help) {
    std::printf("%s", t.Help().c_str());
    return kExitOk;
  }
  if (!t.Given("older-than-days")) return usage("--older-than-days is required");
  if (log_dir[0] != '/') return usage("--log-dir must be an absolute path");
  // The same choice as a sync's (an empty HA_SYNC_DB_DSN is an error, never
  // a quiet fall back to the local SQLite file).
  auto chosen = audit::ChooseDsn(t.Given("db-dsn"), db_dsn, env_dsn);
  if (!chosen.ok()) return usage(chosen.status().message());
  auto dsn = audit::ParseDsn(*chosen, log_dir);
  if (!dsn.ok()) return usage(dsn.status().message());

  auto store = audit::AuditStore::Open(*dsn);
  if (!store.ok()) {
    std::fprintf(stderr, "ha-sync prune-db: %s\n", store.status().message().c_str());
    return kExitFailed;
  }
  auto pruned = (*store)->Prune(NowMs() - days * 86400 * 1000);
  if (!pruned.ok()) {
    std::fprintf(stderr, "ha-sync prune-db: %s\n", pruned.status().message().c_str());
    return kExitFailed;
  }
  std::printf("ha-sync prune-db: deleted %lld operation row(s) and %lld iteration(s) older than "
              "%lld day(s) from %s\n",
              static_cast<long long>(pruned->operations_deleted),
              static_cast<long long>(pruned->iterations_deleted), static_cast<long long>(days),
              dsn->Masked().c_str());
  return kExitOk;
}

}  // namespace ha_sync::cli
