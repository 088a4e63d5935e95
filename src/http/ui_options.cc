#include "http/ui_options.h"

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdlib>
#include <sstream>

namespace ha_sync::http {
namespace po = boost::program_options;

namespace {

bool ParseCount(const std::string& text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

UiParseResult ParseUiOptions(const std::vector<std::string>& args, const char* env_dsn,
                             const char* env_auth) {
  UiParseResult r;
  UiOptions& o = r.options;
  std::string stale, threads;
  po::options_description desc(
      "Usage: ha-sync-ui [options]\n\n"
      "Serves the ha-sync dashboard, its JSON API and Prometheus metrics from the audit\n"
      "database (read-only). See docs/api.md.\n\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("listen", po::value(&o.listen)->value_name("HOST:PORT"), "address to serve on (default: 0.0.0.0:8080)")
    ("db-dsn", po::value(&o.db_dsn)->value_name("DSN"), "audit database DSN (default: env HA_SYNC_DB_DSN, else SQLite <log-dir>/ha-sync.db)")
    ("log-dir", po::value(&o.log_dir)->value_name("DIR"), "ha-sync's --log-dir, for the default SQLite store (default: /var/log/ha-sync)")
    ("auth-file", po::value(&o.auth_file)->value_name("FILE"), "require HTTP basic auth; FILE holds user:password lines (or set env HA_SYNC_UI_BASIC_AUTH)")
    ("stale-after", po::value(&stale)->value_name("SECONDS"), "show a direction red when its newest run ended longer ago (default: 3600)")
    ("threads", po::value(&threads)->value_name("N"), "request handler threads (default: 4)")
    ("version", po::bool_switch(&o.show_version), "print the version")
    ("help", po::bool_switch(&o.show_help), "print this help");
  // clang-format on
  std::ostringstream help;
  help << desc;
  r.help = help.str();
  po::variables_map vm;
  try {
    std::vector<std::string> tail(args.begin() + (args.empty() ? 0 : 1), args.end());
    po::store(po::command_line_parser(tail).options(desc).style(
                  po::command_line_style::default_style &
                  ~po::command_line_style::allow_guessing).run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    r.error = e.what();
    return r;
  }
  if (o.show_help || o.show_version) return r;
  if (!stale.empty() && !ParseCount(stale, 60, 365LL * 86400, &o.stale_after_seconds)) {
    r.error = "--stale-after must be a whole number of seconds from 60 to 31536000, got '" + stale + "'";
    return r;
  }
  if (!threads.empty() && !ParseCount(threads, 1, 64, &o.threads)) {
    r.error = "--threads must be a whole number from 1 to 64, got '" + threads + "'";
    return r;
  }
  if (o.log_dir.empty() || o.log_dir[0] != '/') {
    r.error = "--log-dir must be an absolute path, got '" + o.log_dir + "'";
    return r;
  }
  if (o.db_dsn.empty() && env_dsn != nullptr) o.db_dsn = env_dsn;
  if (env_auth != nullptr) o.auth_env = env_auth;
  return r;
}

}  // namespace ha_sync::http
