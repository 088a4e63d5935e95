#include "http/ui_options.h"

#include <doctest/doctest.h>

namespace ha_sync::http {
namespace {

UiParseResult Parse(std::vector<std::string> extra, const char* env_dsn = nullptr,
                    const char* env_auth = nullptr) {
  std::vector<std::string> args = {"ha-sync-ui"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ParseUiOptions(args, env_dsn, env_auth);
}

TEST_CASE("ha-sync-ui defaults: port 8080, the DSN from the environment, ha-sync's log dir") {
  UiParseResult r = Parse({});
  REQUIRE(r.error.empty());
  CHECK(r.options.listen == "0.0.0.0:8080");
  CHECK(r.options.db_dsn.empty());
  CHECK(r.options.log_dir == "/var/log/ha-sync");
  CHECK(r.options.stale_after_seconds == 3600);
  CHECK(r.options.threads == 4);
  CHECK(Parse({}, "u:p@tcp(h)/db").options.db_dsn == "u:p@tcp(h)/db");
  CHECK(Parse({"--db-dsn", "sqlite:///x.db"}, "u:p@tcp(h)/db").options.db_dsn == "sqlite:///x.db");
  CHECK(Parse({}, nullptr, "ops:pw").options.auth_env == std::optional<std::string>("ops:pw"));
  CHECK(Parse({"--help"}).options.show_help);
  CHECK(Parse({"--help"}).help.find("--listen") != std::string::npos);
}

TEST_CASE("ha-sync-ui usage errors name the flag") {
  CHECK(Parse({"--stale-after", "10"}).error.find("--stale-after") == 0);
  CHECK(Parse({"--stale-after", "abc"}).error.find("--stale-after") == 0);
  CHECK(Parse({"--threads", "0"}).error.find("--threads") == 0);
  CHECK(Parse({"--log-dir", "relative"}).error.find("--log-dir") == 0);
  CHECK(Parse({"--bogus"}).error.find("bogus") != std::string::npos);
  CHECK(Parse({"--stale-after", "7200"}).options.stale_after_seconds == 7200);
}

}  // namespace
}  // namespace ha_sync::http

namespace ha_sync::http {

TEST_CASE("ha-sync-ui: every value flag rejects an empty value") {
  for (const char* flag : {"--listen", "--db-dsn", "--log-dir", "--auth-file", "--stale-after",
                           "--threads"}) {
    INFO(std::string(flag));
    CHECK(Parse({flag, ""}).error.find(std::string(flag) + " was given an empty value") == 0);
  }
  CHECK(Parse({"--db-dsn", ""}, "u:p@tcp(h)/db").error.find("--db-dsn") == 0);
}

TEST_CASE("ha-sync-ui: auth given empty fails closed; unset means no auth") {
  UiParseResult file = Parse({"--auth-file", ""});
  CHECK(file.error.find("--auth-file was given an empty value") == 0);
  UiParseResult env = Parse({}, nullptr, "");
  CHECK(env.error.find("HA_SYNC_UI_BASIC_AUTH is set but empty") != std::string::npos);
  CHECK(env.error.find('\n') == std::string::npos);
  // Even with a file given: an empty variable is a mistake worth stopping for.
  CHECK_FALSE(Parse({"--auth-file", "/etc/users"}, nullptr, "").error.empty());
  UiParseResult none = Parse({});
  REQUIRE(none.error.empty());
  CHECK_FALSE(none.options.auth_file.has_value());
  CHECK_FALSE(none.options.auth_env.has_value());
  CHECK(Parse({"--auth-file", "/etc/users"}).options.auth_file == "/etc/users");
}

TEST_CASE("ha-sync-ui: switches take =true|false") {
  CHECK(Parse({"--help=yes"}).options.show_help);
  CHECK_FALSE(Parse({"--version=false"}).options.show_version);
  CHECK(Parse({"--help=maybe"}).error.find("--help takes no value") == 0);
}

TEST_CASE("HA_SYNC_DB_DSN set but empty is an error, not the SQLite store") {
  CHECK(Parse({}, "").error.find("env HA_SYNC_DB_DSN is set but empty") == 0);
  CHECK(Parse({}, "sqlite:///x.db").options.db_dsn == "sqlite:///x.db");
}

}  // namespace ha_sync::http
