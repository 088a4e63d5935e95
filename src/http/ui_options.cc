#include "http/ui_options.h"

#include "audit/dsn.h"
#include "ha_sync/flag_table.h"
#include "ha_sync/text.h"

namespace ha_sync::http {
namespace {

bool IsAbsolute(const std::string& p) { return p[0] == '/'; }

}  // namespace

UiParseResult ParseUiOptions(const std::vector<std::string>& args, const char* env_dsn,
                             const char* env_auth) {
  UiParseResult r;
  UiOptions& o = r.options;
  FlagTable t(
      "Usage: ha-sync-ui [options]\n\n"
      "Serves the ha-sync dashboard, its JSON API and Prometheus metrics from the audit\n"
      "database (read-only). See docs/api.md.\n"
      "Switches also take =true|false|1|0|yes|no; no flag takes an empty value.\n\n"
      "Options");
  // clang-format off
  t.Text("listen", "HOST:PORT", "address to serve on (default: 0.0.0.0:8080)", &o.listen)
   .Text("db-dsn", "DSN", "audit database DSN (default: env HA_SYNC_DB_DSN, else SQLite <log-dir>/ha-sync.db)", &o.db_dsn)
   .Value("log-dir", "DIR", "ha-sync's --log-dir, for the default SQLite store (default: /var/log/ha-sync)",
          [&o](const std::string& v) {
            if (!IsAbsolute(v)) return "--log-dir must be an absolute path, got '" + EscapeForDisplay(v) + "'";
            o.log_dir = v;
            return std::string();
          })
   .Text("auth-file", "FILE", "require HTTP basic auth; FILE holds user:password lines (or set env HA_SYNC_UI_BASIC_AUTH)", &o.auth_file)
   .Count("stale-after", "SECONDS", "show a direction red when its newest run ended longer ago (default: 3600)",
          60, 365LL * 86400, &o.stale_after_seconds, "seconds")
   .Count("threads", "N", "request handler threads (default: 4)", 1, 64, &o.threads)
   .Switch("version", "print the version", &o.show_version)
   .Switch("help", "print this help", &o.show_help);
  // clang-format on
  r.help = t.Help();
  r.error = t.Parse(std::vector<std::string>(args.begin() + (args.empty() ? 0 : 1), args.end()));
  if (!r.error.empty() || o.show_help || o.show_version) return r;
  // Only an absent flag falls back: an explicit --db-dsn '' was refused above.
  auto chosen = audit::ChooseDsn(t.Given("db-dsn"), o.db_dsn, env_dsn);
  if (!chosen.ok()) {
    r.error = chosen.status().message();
    return r;
  }
  o.db_dsn = *chosen;
  // Fail closed: a security setting that is present but empty is a mistake
  // (a missing Secret key, an unset shell variable), never "no auth".
  if (env_auth != nullptr) {
    if (*env_auth == '\0') {
      r.error = "env HA_SYNC_UI_BASIC_AUTH is set but empty; give user:password lines, "
                "or unset it to serve without authentication";
      return r;
    }
    o.auth_env = env_auth;
  }
  return r;
}

}  // namespace ha_sync::http
