// Command-line options of `ha-sync-ui` (docs/api.md), parsed with
// Boost.Program_options. A bad value is a usage error (exit 64).
//
// Thread-safety: plain values; parse once in main.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ha_sync::http {

struct UiOptions {
  std::string listen = "0.0.0.0:8080";
  std::string db_dsn;                     // flag, else env HA_SYNC_DB_DSN
  std::string log_dir = "/var/log/ha-sync";  // where the default SQLite store is
  // Basic auth: the file wins when both are set; neither: no auth. Never
  // empty when set (ParseUiOptions refuses an empty one).
  std::optional<std::string> auth_file;   // --auth-file
  std::optional<std::string> auth_env;    // value of HA_SYNC_UI_BASIC_AUTH
  int64_t stale_after_seconds = 3600;
  int64_t threads = 4;                    // handler threads (database queries)
  bool show_help = false;
  bool show_version = false;
};

struct UiParseResult {
  UiOptions options;
  std::string error;  // non-empty: usage error
  std::string help;
};

// env_dsn / env_auth: HA_SYNC_DB_DSN and HA_SYNC_UI_BASIC_AUTH (nullptr when unset).
UiParseResult ParseUiOptions(const std::vector<std::string>& args, const char* env_dsn,
                             const char* env_auth);

}  // namespace ha_sync::http
