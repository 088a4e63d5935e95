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
  CHECK(Parse({}, nullptr, "ops:pw").options.auth_env == "ops:pw");
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
