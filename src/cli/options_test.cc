#include "cli/options.h"

#include <doctest/doctest.h>

#include <stdlib.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace ha_sync::cli {

namespace {
// `env_dsn`: the value of HA_SYNC_DB_DSN, nothing else set.
ParseResult Parse(std::vector<std::string> extra, const char* env_dsn = nullptr) {
  std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ParseOptions(args, [env_dsn](const char* name) -> const char* {
    return std::string(name) == "HA_SYNC_DB_DSN" ? env_dsn : nullptr;
  });
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
  CHECK(r.options.workers == 0);  // chosen per file system, below
  CHECK_FALSE(r.options.delete_missing);
  CHECK_FALSE(r.options.dry_run);
}

TEST_CASE("--workers defaults by the roots' file systems; a given value stands") {
  Options o;
  o.src = "/proc";  // procfs: local on every host
  o.dest = "/proc/self";
  CHECK(EffectiveWorkers(o) == 4);
  o.dest = "/no/such/dest";  // unknown: local (the open reports it)
  CHECK(EffectiveWorkers(o) == 4);
  o.workers = 7;
  CHECK(EffectiveWorkers(o) == 7);
  CHECK(Parse({"--workers", "2"}).options.workers == 2);
  CHECK(Parse({"--workers", "0"}).error.find("--workers") != std::string::npos);
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

TEST_CASE("--kube-api is parsed as the lock uses it: no host, a path or a bad port is a usage error") {
  CHECK(Parse({"--kube-api", "https://"}).error == "--kube-api 'https://': '' is not a host name or IP address");
  CHECK(Parse({"--kube-api", "https://api.example/apis"}).error ==
        "--kube-api 'https://api.example/apis' must be https://HOST[:PORT] without a path or user");
  CHECK(Parse({"--kube-api", "http://api.example"}).error == "--kube-api 'http://api.example' must start with https://");
  CHECK(Parse({"--kube-api", "https://api.example:99999"}).error.find("is not a port") != std::string::npos);
  CHECK(Parse({"--kube-api", "https://api.example:6443"}).error == "");
}

}  // namespace ha_sync::cli

namespace ha_sync::cli {

// Issue 13: "was the flag given" is decided by the flag's presence, never by
// its value being non-empty, so an empty value cannot turn a guard off.
TEST_CASE("every value flag of ha-sync rejects an empty value") {
  for (const char* flag :
       {"--src", "--dest", "--pair", "--direction", "--db-dsn", "--lock-ttl", "--lock",
        "--lease-namespace", "--lease-skew-margin", "--lease-acquire-timeout", "--kube-api",
        "--kube-token-file", "--kube-ca", "--log-dir", "--log-retain-days", "--mtime-threshold",
        "--max-delete", "--max-delete-percent", "--workers", "--block-size", "--io-engine", "--queue-depth", "--min-age",
        "--require-marker", "--exclude", "--trash-retain-days", "--clock-skew-warn",
        "--status-addr", "--shard", "--shards", "--run-group", "--bench-seconds", "--bench-json"}) {
    INFO(std::string(flag));
    // --src, --dest and --pair are in Parse()'s own arguments already.
    std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "p"};
    for (size_t i = 1; i < args.size(); i += 2) {
      if (args[i] == flag) args[i + 1] = "";
    }
    if (std::find(args.begin(), args.end(), flag) == args.end()) args.insert(args.end(), {flag, ""});
    ParseResult r = ParseOptions(args, nullptr);
    CHECK(r.error.find(std::string(flag) + " was given an empty value") == 0);
    CHECK(r.error.find('\n') == std::string::npos);
  }
  // The help text lists no value flag that the loop above misses.
  const std::string help = Parse({"--help"}).help;
  size_t value_flags = 0;
  for (size_t at = help.find("\n  --"); at != std::string::npos; at = help.find("\n  --", at + 1)) {
    const size_t end = help.find_first_of(" \n", at + 5);
    if (help.compare(end, 3, " [=") != 0) ++value_flags;  // switches show [=BOOL(=true)]
  }
  CHECK(value_flags == 33);
}

TEST_CASE("--shard I/N, --shards N with JOB_COMPLETION_INDEX, and the run group") {
  std::map<std::string, std::string> vars;  // the environment the options see
  auto ParseEnv = [&vars](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseOptions(args, [&vars](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    });
  };
  ParseResult r = Parse({"--shard", "2/3", "--run-group", "job-1"});
  REQUIRE(r.error.empty());
  CHECK(r.options.shard_index == 2);
  CHECK(r.options.shard_count == 3);
  CHECK(r.options.run_group == "job-1");
  CHECK(Parse({}).options.shard_count == 1);
  CHECK(Parse({"--shard", "0/1"}).error.empty());  // one shard: an ordinary run, no group needed
  CHECK(Parse({"--shard", "3/3", "--run-group", "g"}).error.find("--shard must be I/N") == 0);
  CHECK(Parse({"--shard", "1/3"}).error.find("--run-group") != std::string::npos);
  CHECK(Parse({"--shard", "1/3", "--run-group", "a/b"}).error.find("--run-group must be") == 0);
  CHECK(Parse({"--shards", "3", "--run-group", "g"}).error.find("JOB_COMPLETION_INDEX") != std::string::npos);
  CHECK(Parse({"--shard", "1/3", "--shards", "3", "--run-group", "g"}).error.find("not both") != std::string::npos);
  vars = {{"JOB_COMPLETION_INDEX", "2"}, {"HA_SYNC_RUN_GROUP", "4f1c-uid"}};
  r = ParseEnv({"--shards", "3"});
  REQUIRE(r.error.empty());
  CHECK(r.options.shard_index == 2);
  CHECK(r.options.shard_count == 3);
  CHECK(r.options.run_group == "4f1c-uid");
  CHECK(ParseEnv({"--shards", "3", "--run-group", "flag-wins"}).options.run_group == "flag-wins");
  vars["JOB_COMPLETION_INDEX"] = "3";
  CHECK(ParseEnv({"--shards", "3"}).error.find("from 0 to 2, got '3'") != std::string::npos);
}

TEST_CASE("--max-delete-percent takes 0 to 100, default 50") {
  CHECK(Parse({}).options.max_vanished_percent == 50);
  CHECK(Parse({"--max-delete-percent", "100"}).options.max_vanished_percent == 100);
  CHECK(Parse({"--max-delete-percent", "12.5"}).options.max_vanished_percent == 12.5);
  CHECK(Parse({"--max-delete-percent", "101"}).error.find("--max-delete-percent must be") == 0);
  CHECK(Parse({"--max-delete-percent", "50%"}).error.find("--max-delete-percent must be") == 0);
}

TEST_CASE("--max-delete '' keeps the delete cap a usage error, not off") {
  ParseResult r = Parse({"--delete-missing", "--max-delete", ""});
  CHECK_FALSE(r.error.empty());
  CHECK_FALSE(r.options.max_delete_count.has_value());
  CHECK_FALSE(r.options.max_delete_percent.has_value());
  CHECK(Parse({"--max-delete", "0"}).options.max_delete_count == 0);
}

TEST_CASE("an explicit empty --db-dsn never falls back to the environment or SQLite") {
  ParseResult r = Parse({"--db-dsn", ""}, "u:p@tcp(h:3306)/db");
  CHECK(r.error.find("--db-dsn was given an empty value") == 0);
  CHECK(Parse({"--db-dsn="}, "u:p@tcp(h:3306)/db").error.find("--db-dsn") != std::string::npos);
  // Absent: the environment, as before.
  CHECK(Parse({}, "u:p@tcp(h:3306)/db").options.db_dsn == "u:p@tcp(h:3306)/db");
  // Set but empty (a missing Secret key): an error, never SQLite by default.
  CHECK(Parse({}, "").error.find("env HA_SYNC_DB_DSN is set but empty") == 0);
  CHECK(Parse({"--db-dsn", "sqlite:///x.db"}, "").error.empty());
}

TEST_CASE("a value flag followed by another flag is missing its value") {
  ParseResult r = Parse({"--direction", "--dry-run"});
  CHECK(r.error.find("--direction is missing its value") == 0);
  CHECK_FALSE(r.options.dry_run);
}

TEST_CASE("switches take =true|false|1|0|yes|no and the bare form") {
  CHECK(Parse({"--delete-missing"}).options.delete_missing);
  CHECK_FALSE(Parse({"--delete-missing=false"}).options.delete_missing);
  CHECK_FALSE(Parse({"--delete-missing=NO"}).options.delete_missing);
  CHECK(Parse({"--delete-missing=Yes"}).options.delete_missing);
  CHECK(Parse({"--dry-run=1"}).options.dry_run);
  CHECK_FALSE(Parse({"--dry-run=0"}).options.dry_run);
  CHECK(Parse({"--fsync=true"}).options.fsync);
  CHECK(Parse({"--verbose=true"}).options.verbose);
  CHECK(Parse({"--no-copy-file-range=yes"}).options.no_copy_file_range);
  CHECK_FALSE(Parse({"--no-progress"}).options.progress);
  CHECK(Parse({"--no-progress=false"}).options.progress);
  CHECK(Parse({"--bench=true"}).options.bench);
  CHECK_FALSE(Parse({"--help=false"}).options.show_help);
  for (const char* bad : {"--dry-run=maybe", "--delete-missing=2", "--fsync=on", "--verbose=",
                          "--no-progress=t", "--bench=nope", "--no-copy-file-range=off"}) {
    INFO(std::string(bad));
    ParseResult r = Parse({bad});
    const std::string flag(bad, std::string(bad).find('='));
    CHECK(r.error.find(flag) != std::string::npos);
    CHECK_FALSE(r.options.delete_missing);
  }
  CHECK(Parse({"--dry-run=maybe"}).error ==
        "--dry-run takes no value or one of true|false|1|0|yes|no (any case), got 'maybe'");
}

TEST_CASE("HA_SYNC_IO_ENGINE is the default of --io-engine, and only the default") {
  const std::vector<std::string> args = {"ha-sync", "--src", "/a", "--dest", "/b", "--pair", "p"};
  auto with_engine = [](const char* value) {
    return [value](const char* name) -> const char* {
      return std::string(name) == "HA_SYNC_IO_ENGINE" ? value : nullptr;
    };
  };
  ParseResult r = ParseOptions(args, with_engine("threads"));
  REQUIRE(r.error.empty());
  CHECK(r.options.io_engine == "threads");
  std::vector<std::string> flagged = args;
  flagged.push_back("--io-engine=uring");
  r = ParseOptions(flagged, with_engine("threads"));
  REQUIRE(r.error.empty());
  CHECK(r.options.io_engine == "uring");
  r = ParseOptions(args, with_engine("fast"));
  CHECK(r.error == "env HA_SYNC_IO_ENGINE must be auto, uring or threads, got 'fast'");
  r = ParseOptions(args, with_engine(""));
  CHECK(r.error == "env HA_SYNC_IO_ENGINE must be auto, uring or threads, got ''");
  CHECK(ParseOptions(args, nullptr).options.io_engine == "auto");
}

TEST_CASE("HA_SYNC_FLUSH_BATCH_ROWS: a whole number from 1 to 5000, anything else set is refused") {
  const std::vector<std::string> args = {"ha-sync", "--src", "/a", "--dest", "/b", "--pair", "p"};
  auto with_rows = [](const char* value) {
    return [value](const char* name) -> const char* {
      return std::string(name) == "HA_SYNC_FLUSH_BATCH_ROWS" ? value : nullptr;
    };
  };
  CHECK(ParseOptions(args, nullptr).options.flush_batch_rows == 1000);
  ParseResult r = ParseOptions(args, with_rows("40"));
  REQUIRE(r.error.empty());
  CHECK(r.options.flush_batch_rows == 40);
  CHECK(ParseOptions(args, with_rows("5000")).options.flush_batch_rows == 5000);
  for (const char* bad : {"", "abc", "0", "5001", "99999", "12x", "-1"}) {
    INFO(bad);
    CHECK(ParseOptions(args, with_rows(bad)).error ==
          "env HA_SYNC_FLUSH_BATCH_ROWS must be a whole number from 1 to 5000, got '" + std::string(bad) + "'");
  }
}

}  // namespace ha_sync::cli
