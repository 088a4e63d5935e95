#include "cli/prune_db_command.h"

#include <boost/program_options.hpp>
#include <cstdio>
#include <sstream>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "cli/run.h"

namespace ha_sync::cli {
namespace po = boost::program_options;

int RunPruneDbCommand(const std::vector<std::string>& args, const char* env_dsn) {
  std::string days_text, db_dsn, log_dir = "/var/log/ha-sync";
  bool help = false;
  po::options_description desc(
      "Usage: ha-sync prune-db --older-than-days N [--db-dsn DSN] [--log-dir DIR]\n\n"
      "Deletes audit rows of operations older than N days, then the runs older than\n"
      "that which have no operation left. Safe while syncs run.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("older-than-days", po::value(&days_text)->value_name("N"), "age limit in days (1 or more); required")
    ("db-dsn", po::value(&db_dsn)->value_name("DSN"), "audit database (default: env HA_SYNC_DB_DSN, else SQLite in --log-dir)")
    ("log-dir", po::value(&log_dir)->value_name("DIR"), "where the default SQLite file lives (default: /var/log/ha-sync)")
    ("help", po::bool_switch(&help), "print this help");
  // clang-format on
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "ha-sync prune-db: %s\nTry 'ha-sync prune-db --help'.\n", message.c_str());
    return kExitUsage;
  };
  try {
    po::variables_map vm;
    std::vector<std::string> tail(args.begin() + 2, args.end());
    po::store(po::command_line_parser(tail).options(desc).style(
                  po::command_line_style::default_style &
                  ~po::command_line_style::allow_guessing).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage(e.what());
  }
  if (help) {
    std::ostringstream out;
    out << desc;
    std::printf("%s", out.str().c_str());
    return kExitOk;
  }
  if (days_text.empty()) return usage("--older-than-days is required");
  if (days_text.size() > 6 || days_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(days_text) < 1) {
    return usage("--older-than-days must be a whole number of days from 1 to 999999, got '" +
                 days_text + "'");
  }
  const int64_t days = std::stoll(days_text);
  if (log_dir.empty() || log_dir[0] != '/') return usage("--log-dir must be an absolute path");
  if (db_dsn.empty() && env_dsn != nullptr) db_dsn = env_dsn;
  auto dsn = audit::ParseDsn(db_dsn, log_dir);
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
