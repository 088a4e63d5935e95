// The command line as a user meets it: usage errors (exit 64), help, version,
// an unusable log directory.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace ha_sync::test
