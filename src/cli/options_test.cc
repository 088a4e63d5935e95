#include "cli/options.h"

#include <doctest/doctest.h>

namespace ha_sync::cli {

namespace {
ParseResult Parse(std::vector<std::string> extra, const char* env = nullptr) {
  std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ParseOptions(args, env);
}
}  // namespace

TEST_CASE("defaults follow the seed") {
  ParseResult r = Parse({});
  REQUIRE(r.error.empty());
  CHECK(r.options.direction == "fwd");
  CHECK(r.options.lock_ttl_seconds == 3600);
  CHECK(r.options.log_dir == "/var/log/ha-sync");
  CHECK(r.options.log_retain_days == 10);
  CHECK(r.options.mtime_threshold_seconds == 2);
  CHECK(r.options.workers == 4);
  CHECK_FALSE(r.options.delete_missing);
  CHECK_FALSE(r.options.dry_run);
}

TEST_CASE("the DSN comes from the flag, else the environment") {
  CHECK(Parse({}, "u:p@tcp(h:3306)/db").options.db_dsn == "u:p@tcp(h:3306)/db");
  CHECK(Parse({"--db-dsn", "sqlite:///x.db"}, "env").options.db_dsn == "sqlite:///x.db");
}

TEST_CASE("bad input is a usage error with a clear message") {
  CHECK(Parse({"--bogus"}).error.find("bogus") != std::string::npos);
  CHECK(Parse({"--workers", "-3"}).error.find("--workers") != std::string::npos);
  CHECK(Parse({"--workers", "four"}).error.find("--workers") != std::string::npos);
  CHECK(Parse({"--lock-ttl", "0"}).error.find("--lock-ttl") != std::string::npos);
  CHECK(Parse({"--mtime-threshold", "-1"}).error.find("--mtime-threshold") != std::string::npos);
  CHECK(Parse({"--log-retain-days", "x"}).error.find("--log-retain-days") != std::string::npos);
  CHECK(Parse({"--max-delete", "101%"}).error.find("--max-delete") != std::string::npos);
  CHECK(Parse({"--max-delete", "ten"}).error.find("--max-delete") != std::string::npos);
  CHECK(Parse({"--direction", "a/b"}).error.find("--direction") != std::string::npos);
  CHECK(Parse({"--log-dir", "rel"}).error.find("--log-dir") != std::string::npos);
  CHECK(ParseOptions({"ha-sync", "--dest", "/b", "--pair", "p"}, nullptr).error == "--src is required");
  CHECK(ParseOptions({"ha-sync", "--src", "a", "--dest", "/b", "--pair", "p"}, nullptr)
            .error.find("absolute") != std::string::npos);
  CHECK(ParseOptions({"ha-sync", "--src", "/a", "--dest", "/a/", "--pair", "p"}, nullptr)
            .error.find("same directory") != std::string::npos);
  CHECK(ParseOptions({"ha-sync", "--src", "/a", "--dest", "/a/b", "--pair", "p"}, nullptr)
            .error.find("inside") != std::string::npos);
  CHECK(ParseOptions({"ha-sync", "--src", "/a/b/../b/c", "--dest", "/a/b", "--pair", "p"}, nullptr)
            .error.find("inside") != std::string::npos);
  CHECK(ParseOptions({"ha-sync", "--src", "/ab", "--dest", "/a", "--pair", "p"}, nullptr).error.empty());
}

TEST_CASE("--exclude takes relative paths, repeatable") {
  ParseResult r = Parse({"--exclude", "ha-sync-logs/", "--exclude", "a/b"});
  REQUIRE(r.error.empty());
  CHECK(r.options.excluded == std::vector<std::string>{"ha-sync-logs", "a/b"});
  CHECK(Parse({"--exclude", "/abs"}).error.find("--exclude") != std::string::npos);
  CHECK(Parse({"--exclude", "a/../b"}).error.find("--exclude") != std::string::npos);
}

TEST_CASE("max-delete takes a count or a percentage") {
  CHECK(Parse({"--max-delete", "25"}).options.max_delete_count == 25);
  CHECK(Parse({"--max-delete", "2.5%"}).options.max_delete_percent == 2.5);
}

TEST_CASE("pair names are lowercase DNS names") {
  CHECK(IsValidPairName("media"));
  CHECK(IsValidPairName("a"));
  CHECK(IsValidPairName("photos-2.backup"));
  CHECK_FALSE(IsValidPairName("Media"));
  CHECK_FALSE(IsValidPairName("-media"));
  CHECK_FALSE(IsValidPairName("media-"));
  CHECK_FALSE(IsValidPairName("me_dia"));
  CHECK_FALSE(IsValidPairName(""));
  CHECK_FALSE(IsValidPairName(std::string(250, 'a')));
  CHECK(ParseOptions({"ha-sync", "--src", "/a", "--dest", "/b", "--pair", "Bad_Name"}, nullptr)
            .error.find("DNS") != std::string::npos);
}

}  // namespace ha_sync::cli

namespace ha_sync::cli {

TEST_CASE("--status-addr takes HOST:PORT") {
  CHECK(Parse({}).options.status_addr.empty());
  CHECK(Parse({"--status-addr", "0.0.0.0:9102"}).options.status_addr == "0.0.0.0:9102");
  CHECK(Parse({"--status-addr", "[::1]:0"}).error.empty());
  CHECK(Parse({"--status-addr", "9102"}).error ==
        "--status-addr '9102' is not HOST:PORT (no ':PORT')");
  CHECK(Parse({"--status-addr", "host.example:80"}).error.find("--status-addr") == 0);
}

}  // namespace ha_sync::cli
