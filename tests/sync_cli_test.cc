// The command line as a user meets it: usage errors (exit 64), help, version,
// an unusable log directory.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include "sync_harness.h"

namespace ha_sync::test {

TEST_CASE("usage errors exit 64 with one clear line") {
  TempDir t;
  MakeDirs(t / "a");
  MakeDirs(t / "b");
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  } cases[] = {
      {{"--src", t / "a", "--dest", t / "b", "--pair", "p", "--nope"}, "nope"},
      {{"--src", t / "a", "--dest", t / "b"}, "--pair is required"},
      {{"--src", "rel", "--dest", t / "b", "--pair", "p"}, "absolute"},
      {{"--src", t / "a", "--dest", t / "a", "--pair", "p"}, "same directory"},
      {{"--src", t / "a", "--dest", t / "a/inner", "--pair", "p"}, "inside"},
      {{"--src", t / "a", "--dest", t / "b", "--pair", "Not_DNS"}, "DNS"},
      {{"--src", t / "a", "--dest", t / "b", "--pair", "p", "--workers", "-1"}, "--workers"},
      {{"--src", t / "a", "--dest", t / "b", "--pair", "p", "--mtime-threshold", "soon"}, "--mtime-threshold"},
  };
  for (const auto& c : cases) {
    RunOutput r = RunHaSync(c.args);
    INFO(r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.out.empty());
  }
  CHECK(Describe(t.path()).size() == 2);  // nothing was created
}

TEST_CASE("help and version") {
  RunOutput h = RunHaSync({"--help"});
  CHECK(h.exit_code == 0);
  for (const char* flag : {"--src", "--dest", "--pair", "--direction", "--db-dsn", "--lock-ttl",
                           "--log-dir", "--log-retain-days", "--mtime-threshold", "--delete-missing",
                           "--workers", "--dry-run", "--verbose", "--max-delete"}) {
    CHECK(h.out.find(flag) != std::string::npos);
  }
  RunOutput v = RunHaSync({"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.rfind("ha-sync ", 0) == 0);
}

TEST_CASE("an unwritable log directory is an error before any file is touched") {
  TempDir t;
  WriteFile(t / "src/f", "f", 1);
  MakeDirs(t / "dest");
  WriteFile(t / "not-a-dir", "x");
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "not-a-dir/log"));
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not-a-dir") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/f"));
}

TEST_CASE("old opslogs are pruned by --log-retain-days") {
  TempDir t;
  WriteFile(t / "src/f", "f", 1);
  MakeDirs(t / "dest");
  WriteFile(t / "log/opslog-test-fwd-2020-01-01T00:00:00.000Z.jsonl", "{}\n", 1'577'836'800 * kSec);
  WriteFile(t / "log/opslog-other-fwd-2026-01-01T00:00:00.000Z.jsonl", "{}\n");
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--log-retain-days", "10"}));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "log/opslog-test-fwd-2020-01-01T00:00:00.000Z.jsonl"));
  CHECK(Exists(t / "log/opslog-other-fwd-2026-01-01T00:00:00.000Z.jsonl"));
}

// Issue 13: an empty value is a usage error for every value flag, so it can
// never switch a guard off (`--max-delete ''` used to mean "no cap").
TEST_CASE("a stray word on the command line exits 64 and syncs nothing") {
  // `dry-run` without its dashes used to be dropped: a real sync ran.
  TempDir t;
  WriteFile(t / "src/new", "n", 1);
  const RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"dry-run"}));
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("unexpected argument 'dry-run'") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/new"));
}

TEST_CASE("a seconds value too large to hold in nanoseconds exits 64 instead of wrapping around") {
  // 99999999999 s overflowed the int64 nanoseconds: --min-age turned the
  // settle window off and --mtime-threshold called every file "in the future".
  TempDir t;
  WriteFile(t / "src/new", "n", 1);
  for (const char* flag : {"--min-age", "--mtime-threshold", "--clock-skew-warn"}) {
    const RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {flag, "99999999999"}));
    INFO(std::string(flag), ": ", r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(std::string(flag) + " must be a number of seconds from 0 to 1000000000") != std::string::npos);
    CHECK_FALSE(Exists(t / "dest/new"));
  }
}

TEST_CASE("an empty value for any value flag exits 64 and touches nothing") {
  TempDir t;
  WriteFile(t / "src/keep", "k", 1);
  WriteFile(t / "dest/only-in-dest", "d", 1);
  const auto before = Describe(t / "dest");
  for (const char* flag :
       {"--max-delete", "--workers", "--block-size", "--mtime-threshold", "--lock-ttl",
        "--queue-depth", "--min-age", "--trash-retain-days", "--clock-skew-warn",
        "--log-retain-days", "--db-dsn", "--lease-skew-margin", "--lease-acquire-timeout",
        "--lease-namespace", "--direction", "--lock", "--io-engine", "--status-addr", "--exclude",
        "--require-marker", "--kube-api", "--kube-token-file", "--kube-ca", "--log-dir"}) {
    for (bool with_equals : {false, true}) {
      std::vector<std::string> extra = {"--delete-missing"};
      if (with_equals) {
        extra.push_back(std::string(flag) + "=");
      } else {
        extra.insert(extra.end(), {flag, ""});
      }
      RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", extra),
                              {"HA_SYNC_DB_DSN=sqlite://" + t / "env.db"});
      INFO(std::string(flag), " ", with_equals, ": ", r.err);
      CHECK(r.exit_code == 64);
      CHECK(r.err.rfind(std::string("ha-sync: ") + flag, 0) == 0);  // the first line names it
      CHECK(r.out.empty());
    }
  }
  CHECK(Describe(t / "dest") == before);
  CHECK_FALSE(Exists(t / "log"));
  CHECK_FALSE(Exists(t / "env.db"));
}

TEST_CASE("--max-delete '' with --delete-missing is refused; the cap is never dropped") {
  TempDir t;
  MakeDirs(t / "src");
  WriteFile(t / "src/a", "a", 1);
  for (int i = 0; i < 5; ++i) WriteFile(t / ("dest/gone" + std::to_string(i)), "x", 1);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log",
                                   {"--delete-missing", "--max-delete", ""}));
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("--max-delete was given an empty value") != std::string::npos);
  for (int i = 0; i < 5; ++i) CHECK(Exists(t / ("dest/gone" + std::to_string(i))));
  CHECK_FALSE(Exists(t / "dest/a"));
}

TEST_CASE("switches: --delete-missing=false does not delete, =true does") {
  TempDir t;
  WriteFile(t / "src/a", "a", 1);
  WriteFile(t / "src/b", "b", 1);
  MakeDirs(t / "dest");
  REQUIRE(RunHaSync(SyncArgs(t / "src", t / "dest", t / "log")).exit_code == 0);
  REQUIRE(Exists(t / "dest/b"));
  RemoveTree(t / "src/b");  // deleted on src after a sync: a delete to propagate
  RunOutput off = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing=false"}));
  INFO(off.err);
  CHECK(off.exit_code == 0);
  CHECK(Exists(t / "dest/b"));
  RunOutput on = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing=TRUE"}));
  INFO(on.err);
  CHECK(on.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/b"));
  CHECK(Exists(t / "dest/a"));
}

TEST_CASE("switches: --dry-run=false syncs, --dry-run=yes only plans, --dry-run=maybe exits 64") {
  TempDir t;
  WriteFile(t / "src/a", "a", 1);
  MakeDirs(t / "dest");
  RunOutput bad = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--dry-run=maybe"}));
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("--dry-run takes no value or one of true|false|1|0|yes|no") != std::string::npos);
  RunOutput plan = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--dry-run=yes"}));
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("would create") != std::string::npos);
  CHECK_FALSE(Exists(t / "dest/a"));
  RunOutput real = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--dry-run=false"}));
  CHECK(real.exit_code == 0);
  CHECK(Exists(t / "dest/a"));
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("--verbose ends with the seconds of each stage the run went through, in order") {
  TempDir t;
  WriteFile(t / "src/a", "new", 1'700'000'100LL * 1'000'000'000);
  WriteFile(t / "dest/gone", "old", 1'700'000'000LL * 1'000'000'000);
  const auto start = std::chrono::steady_clock::now();
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--verbose", "--delete-missing"}));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.out, r.err);
  REQUIRE(r.exit_code == 0);
  const size_t at = r.out.find("ha-sync: stages: ");
  REQUIRE(at != std::string::npos);
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  double sum = 0;
  size_t from = 0;
  for (const char* stage : {"starting", "probing", "scanning", "copying", "deleting", "finishing"}) {
    const size_t pos = line.find(std::string(stage) + " ", from);
    REQUIRE_MESSAGE(pos != std::string::npos, stage);
    const double seconds = std::stod(line.substr(pos + std::strlen(stage) + 1));
    CHECK(seconds >= 0);
    sum += seconds;
    from = pos;
  }
  CHECK(line.find("done") == std::string::npos);
  CHECK(sum <= wall);
  // Without --verbose there is no such line.
  RunOutput quiet = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log"));
  CHECK(quiet.out.find("stages:") == std::string::npos);
}

}  // namespace ha_sync::test
