// `ha-sync apply` end to end (docs/cli.md "Plan and apply"): the built
// binary on real trees, a dry-run stored as the plan, then apply. Runs on
// both io engines with SQLite, and again against the MariaDB server the
// harness starts (HA_SYNC_TEST_MYSQL_DSN set: tests/meson.build).
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "io/file_ops.h"
#include "sync_harness.h"

namespace ha_sync::test {

namespace {

constexpr int64_t kT0 = 1'700'000'000 * kSec;

// One pair's runs against the store under test: SQLite in the log directory,
// or the MariaDB named by HA_SYNC_TEST_MYSQL_DSN (a fresh pair name per
// test keeps tests apart in the one database).
struct Pair {
  explicit Pair(const TempDir& t)
      : src(t / "src"), dest(t / "dest"), log(t / "log"),
        name("apply-" + std::to_string(io::RandomU64() % 1000000000)) {
    if (const char* dsn = std::getenv("HA_SYNC_TEST_MYSQL_DSN")) db_dsn = dsn;
  }

  std::vector<std::string> Args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"--src", src, "--dest", dest, "--pair", name, "--log-dir", log,
                                  "--delete-missing"};
    if (!db_dsn.empty()) a.insert(a.end(), {"--db-dsn", db_dsn});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  RunOutput DryRun() const { return RunHaSync(Args({"--dry-run"})); }
  std::vector<std::string> ApplyArgs(const std::string& plan, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {"apply", "--plan", plan};
    for (const std::string& s : Args(std::move(extra))) a.push_back(s);
    return a;
  }
  RunOutput Apply(const std::string& plan, std::vector<std::string> extra = {}) const {
    return RunHaSync(ApplyArgs(plan, std::move(extra)));
  }

  std::unique_ptr<audit::AuditStore> Store() const {
    auto dsn = audit::ParseDsn(db_dsn, log);
    REQUIRE(dsn.ok());
    auto store = audit::AuditStore::Open(*dsn);
    REQUIRE(store.ok());
    return std::move(*store);
  }
  // The newest iteration of this pair with dry_run = `dry`: id, status,
  // plan_id (-1: NULL), files_stale (-1: NULL).
  std::vector<int64_t> Newest(bool dry) const {
    auto store = Store();
    auto rows = store->connection()->QueryAll(
        "SELECT id, status, plan_id, files_stale FROM sync_iterations WHERE sync_pair = ? AND "
        "dry_run = ? ORDER BY id DESC LIMIT 1",
        {name, int64_t{dry ? 1 : 0}});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    std::vector<int64_t> out(4, -1);
    audit::GetInt((*rows)[0][0], &out[0]);
    std::string status;
    audit::GetText((*rows)[0][1], &status);
    out[1] = status == "success" ? 1 : 0;
    audit::GetInt((*rows)[0][2], &out[2]);
    audit::GetInt((*rows)[0][3], &out[3]);
    return out;
  }
  // files_created, files_updated, files_deleted of the newest production run.
  std::vector<int64_t> Counts() const {
    auto store = Store();
    auto rows = store->connection()->QueryAll(
        "SELECT files_created, files_updated, files_deleted FROM sync_iterations WHERE "
        "sync_pair = ? AND dry_run = 0 ORDER BY id DESC LIMIT 1",
        {name});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    std::vector<int64_t> out(3, -1);
    for (size_t i = 0; i < 3; ++i) audit::GetInt((*rows)[0][i], &out[i]);
    return out;
  }
  std::string PlanId() const { return std::to_string(Newest(true)[0]); }
  // Successful production operations of this pair on `path` with `op`.
  int64_t Done(const std::string& op, const std::string& path) const {
    auto store = Store();
    auto rows = store->connection()->QueryAll(
        "SELECT COUNT(*) FROM sync_operations o JOIN sync_iterations i ON o.iteration_id = i.id "
        "WHERE i.sync_pair = ? AND o.dry_run = 0 AND o.status = 'success' AND o.operation = ? "
        "AND o.filepath = ?",
        {name, op, path});
    REQUIRE(rows.ok());
    int64_t n = -1;
    audit::GetInt((*rows)[0][0], &n);
    return n;
  }

  std::string src, dest, log, name, db_dsn;
};

// A tree with every kind of planned change: creates (file, directory with a
// file, symlink), an update, a same-size update, deletes (file, directory).
void MakeTrees(const std::string& src, const std::string& dest) {
  WriteFile(src + "/new.txt", "new file", kT0 + 50 * kSec);
  WriteFile(src + "/dir/inner.txt", "inner", kT0 + 51 * kSec);
  WriteFile(src + "/changed.txt", "the newer, longer version", kT0 + 60 * kSec);
  WriteFile(dest + "/changed.txt", "older", kT0);
  WriteFile(src + "/same-size.txt", "AAAA", kT0 + 70 * kSec);
  WriteFile(dest + "/same-size.txt", "BBBB", kT0);
  WriteFile(src + "/equal.txt", "equal", kT0);
  WriteFile(dest + "/equal.txt", "equal", kT0);
  WriteFile(dest + "/gone.txt", "only in dest", kT0);
  WriteFile(dest + "/gone-dir/a.txt", "a", kT0);
  REQUIRE(::symlink("new.txt", (src + "/link").c_str()) == 0);
  SetMtime(src + "/link", kT0 + 5 * kSec);
  SetMtime(src + "/dir", kT0 + 52 * kSec);
  SetMtime(src, kT0 + 90 * kSec);
  SetMtime(dest + "/gone-dir", kT0);
  SetMtime(dest, kT0);
}

}  // namespace

TEST_CASE("apply of an untouched plan does what a normal run does") {
  TempDir t1, t2;
  Pair normal(t1), planned(t2);
  MakeTrees(normal.src, normal.dest);
  MakeTrees(planned.src, planned.dest);

  RunOutput plan = planned.DryRun();
  INFO(plan.out, plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("ha-sync: plan " + planned.PlanId() + "; to make exactly these changes: "
                      "ha-sync apply --plan " + planned.PlanId()) != std::string::npos);
  RunOutput applied = planned.Apply(planned.PlanId());
  INFO(applied.out, applied.err);
  CHECK(applied.exit_code == 0);
  CHECK(applied.out.find("stale: ") == std::string::npos);
  RunOutput run = RunHaSync(normal.Args());
  REQUIRE(run.exit_code == 0);

  CHECK(Describe(planned.dest) == Describe(normal.dest));
  CHECK(Describe(planned.dest) == Describe(planned.src));
  const std::vector<int64_t> it = planned.Newest(false);
  CHECK(it[1] == 1);  // success
  CHECK(std::to_string(it[2]) == planned.PlanId());
  CHECK(it[3] == 0);
  const std::vector<int64_t> a = planned.Counts(), n = normal.Counts();
  CHECK(a == n);
  CHECK(a[0] > 0);  // created
  CHECK(a[2] > 0);  // deleted
  // Apply goes through the trash and the undo manifest like any run.
  CHECK(Exists(planned.dest + "/.ha-sync-trash"));
  CHECK(applied.out.find("to revert it: ha-sync undo") != std::string::npos);
}

TEST_CASE("changes made after the plan are skipped as stale, never overwritten") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();

  WriteFile(p.src + "/new.txt", "edited in src after the plan", kT0 + 80 * kSec);  // create: src changed
  WriteFile(p.dest + "/changed.txt", "edited in dest", kT0 + 61 * kSec);           // update: dest changed
  WriteFile(p.dest + "/gone.txt", "edited, keep me", kT0 + 1 * kSec);              // delete: dest changed
  WriteFile(p.src + "/after-plan.txt", "not in the plan", kT0 + 81 * kSec);        // outside the plan
  WriteFile(p.dest + "/dest-after-plan.txt", "not in the plan", kT0);              // outside the plan

  RunOutput r = p.Apply(id);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("stale: new.txt: src size changed") != std::string::npos);
  CHECK(r.out.find("stale: changed.txt: dest size changed") != std::string::npos);
  CHECK(r.out.find("stale: gone.txt: dest size changed") != std::string::npos);
  CHECK(!Exists(p.dest + "/new.txt"));
  CHECK(ReadFile(p.dest + "/changed.txt") == "edited in dest");
  CHECK(ReadFile(p.dest + "/gone.txt") == "edited, keep me");
  CHECK(!Exists(p.dest + "/after-plan.txt"));
  CHECK(ReadFile(p.dest + "/dest-after-plan.txt") == "not in the plan");
  // The rest of the plan ran.
  CHECK(ReadFile(p.dest + "/dir/inner.txt") == "inner");
  CHECK(ReadFile(p.dest + "/same-size.txt") == "AAAA");
  CHECK(!Exists(p.dest + "/gone-dir"));
  const std::vector<int64_t> it = p.Newest(false);
  CHECK(it[3] == 3);  // files_stale
  CHECK(p.Done("create", "new.txt") == 0);
  CHECK(p.Done("update", "changed.txt") == 0);
}

TEST_CASE("apply deletes only what the plan listed") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();
  // Deleted in src after the plan: a normal run would delete them in dest.
  REQUIRE(::unlink((p.src + "/equal.txt").c_str()) == 0);
  RunOutput r = p.Apply(id);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(ReadFile(p.dest + "/equal.txt") == "equal");
  CHECK(!Exists(p.dest + "/gone.txt"));
  CHECK(!Exists(p.dest + "/gone-dir/a.txt"));
  CHECK(p.Done("delete", "equal.txt") == 0);
  CHECK(p.Done("delete", "gone.txt") == 1);
}

TEST_CASE("bad or out-of-date plans are refused with one line, nothing touched") {
  TempDir t, other_t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  const auto before = Describe(p.dest);
  auto refused = [&](const std::vector<std::string>& args, int code, const std::string& says) {
    RunOutput r = RunHaSync(args);
    INFO(r.out, r.err);
    CHECK(r.exit_code == code);
    CHECK(r.err.find(says) != std::string::npos);
    CHECK(Describe(p.dest) == before);
  };
  MakeDirs(p.log);
  refused(p.ApplyArgs("latest"), 1, "no plan to apply");
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();
  refused(p.ApplyArgs("999999999"), 64, "no plan 999999999");
  refused(p.ApplyArgs("x1"), 64, "--plan must be a plan id");
  refused({"apply", "--plan", "", "--src", p.src, "--dest", p.dest, "--pair", p.name}, 64,
          "--plan was given an empty value");
  refused(p.ApplyArgs(id, {"--dry-run"}), 64, "do not go with apply");
  std::vector<std::string> no_delete = p.ApplyArgs(id);
  no_delete.erase(std::find(no_delete.begin(), no_delete.end(), "--delete-missing"));
  refused(no_delete, 64, "was made with --delete-missing");
  std::vector<std::string> other_dir = p.ApplyArgs(id, {"--direction", "back"});
  refused(other_dir, 64, "is of pair");

  // A plan of another pair, in the same store and log directory.
  Pair other(other_t);
  other.log = p.log;
  MakeTrees(other.src, other.dest);
  REQUIRE(other.DryRun().exit_code == 0);
  refused(p.ApplyArgs(other.PlanId()), 64, "is of pair '" + other.name + "'");
  // A production run is no plan.
  REQUIRE(RunHaSync(other.Args()).exit_code == 0);
  refused(p.ApplyArgs(std::to_string(other.Newest(false)[0])), 64, "is not a dry-run");

  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  refused(p.ApplyArgs(id, {"--plan-max-age", "1"}), 1, "older than --plan-max-age 1");

  // 'latest' finds it; applied once, it is not applied again.
  RunOutput ok = p.Apply("latest");
  INFO(ok.out, ok.err);
  REQUIRE(ok.exit_code == 0);
  const auto applied = Describe(p.dest);
  RunOutput twice = p.Apply(id);
  CHECK(twice.exit_code == 1);
  CHECK(twice.err.find("was already applied") != std::string::npos);
  CHECK(Describe(p.dest) == applied);
}

TEST_CASE("approve, then apply --plan latest-approved: only an approved plan runs") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  const auto before = Describe(p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string first = p.PlanId();

  // Nothing approved yet: nothing done, and that is no failure (a CronJob waits).
  RunOutput none = p.Apply("latest-approved");
  CHECK(none.exit_code == 0);
  CHECK(none.out.find("no approved plan to apply") != std::string::npos);
  CHECK(Describe(p.dest) == before);

  // A newer dry-run that nobody approved is not what latest-approved takes.
  auto approve = [&](const std::string& plan, std::vector<std::string> extra) {
    std::vector<std::string> a = {"approve", "--plan", plan};
    for (const std::string& s : p.Args(std::move(extra))) a.push_back(s);
    return RunHaSync(a);
  };
  RunOutput ok = approve(first, {"--by", "alice"});
  INFO(ok.out, ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(ok.out.find("plan " + first + " approved by alice") != std::string::npos);
  CHECK(Describe(p.dest) == before);  // approving changes no file
  WriteFile(p.src + "/later.txt", "after the approval", kT0 + 90 * kSec);
  REQUIRE(p.DryRun().exit_code == 0);
  CHECK(p.PlanId() != first);

  // Bad input to approve: one line, exit 64.
  CHECK(approve("latest-approved", {}).exit_code == 64);
  CHECK(approve("", {}).exit_code == 64);
  CHECK(approve("999999999", {}).exit_code == 64);

  RunOutput applied = p.Apply("latest-approved");
  INFO(applied.out, applied.err);
  CHECK(applied.exit_code == 0);
  CHECK(std::to_string(p.Newest(false)[2]) == first);  // the approved plan, not the newer one
  CHECK(!Exists(p.dest + "/later.txt"));                // not in the approved plan
  // Applied now: nothing approved is left to apply, and nothing more changes.
  const auto after = Describe(p.dest);
  RunOutput again = p.Apply("latest-approved");
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("no approved plan to apply") != std::string::npos);
  CHECK(Describe(p.dest) == after);
}

TEST_CASE("a plan whose pair has run since is refused") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();
  WriteFile(p.src + "/later.txt", "x", kT0 + 85 * kSec);
  std::vector<std::string> back = {"--src", p.dest, "--dest", p.src, "--pair", p.name,
                                   "--direction", "back", "--log-dir", p.log};
  if (!p.db_dsn.empty()) back.insert(back.end(), {"--db-dsn", p.db_dsn});
  REQUIRE(RunHaSync(back).exit_code == 0);
  const auto before = Describe(p.dest);
  RunOutput r = p.Apply(id);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("is out of date") != std::string::npos);
  CHECK(Describe(p.dest) == before);
}

TEST_CASE("an unchanged dry-run confirms the stored plan; a changed precondition makes a new plan") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();
  RunOutput same = p.DryRun();
  REQUIRE(same.exit_code == 0);
  CHECK(same.out.find("Dry-run already current") != std::string::npos);
  CHECK(same.out.find("ha-sync: plan " + id + ";") != std::string::npos);
  CHECK(p.PlanId() == id);

  // Same operations (path, operation, size before), but a planned file
  // changed in place: not "nothing has changed", and a plan of its own.
  SetMtime(p.src + "/new.txt", kT0 + 55 * kSec);
  RunOutput changed = p.DryRun();
  REQUIRE(changed.exit_code == 0);
  CHECK(changed.out.find("Dry-run already current") == std::string::npos);
  const std::string newer = p.PlanId();
  CHECK(newer != id);
  // The first plan still rests on what it saw: that file is stale for it.
  RunOutput r = p.Apply(id);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("1 planned operation(s) skipped as stale") != std::string::npos);
  CHECK_FALSE(Exists(p.dest + "/new.txt"));
}

TEST_CASE("an approved plan is never retargeted by a later dry-run of other roots") {
  TempDir t;
  Pair p(t);
  WriteFile(p.src + "/a.txt", "reviewed", kT0 + 10 * kSec);
  WriteFile(t / "src2/a.txt", "other!!!", kT0 + 10 * kSec);  // same size and mtime
  MakeDirs(p.dest);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string approved = p.PlanId();
  std::vector<std::string> a = {"approve", "--plan", approved};
  for (const std::string& arg : p.Args({"--by", "alice"})) a.push_back(arg);
  REQUIRE(RunHaSync(a).exit_code == 0);

  Pair other = p;
  other.src = t / "src2";
  RunOutput dry = other.DryRun();
  REQUIRE(dry.exit_code == 0);
  CHECK(dry.out.find("Dry-run already current") == std::string::npos);
  CHECK(other.PlanId() != approved);
  // The approved plan is still the one of --src src: applying it with src2 is refused.
  RunOutput wrong = other.Apply("latest-approved");
  CHECK(wrong.exit_code == 64);
  CHECK_FALSE(Exists(p.dest + "/a.txt"));
  RunOutput right = p.Apply("latest-approved");
  INFO(right.out, right.err);
  CHECK(right.exit_code == 0);
  CHECK(ReadFile(p.dest + "/a.txt") == "reviewed");
}

TEST_CASE("SIGKILL during apply, then apply again: the plan is done exactly once") {
  TempDir t;
  Pair p(t);
  MakeTrees(p.src, p.dest);
  const std::string big(6 << 20, 'B');  // 6 blocks of 1 MiB
  for (int i = 0; i < 4; ++i) WriteFile(p.src + "/big" + std::to_string(i), big, kT0 + 40 * kSec);
  REQUIRE(p.DryRun().exit_code == 0);
  const std::string id = p.PlanId();

  Running run = StartHaSync(p.ApplyArgs(id, {"--workers", "1"}), {"HA_SYNC_TEST_BLOCK_DELAY_MS=100"});
  REQUIRE(WaitForTempData(p.dest));
  ::kill(run.pid, SIGKILL);
  CHECK(Wait(run).exit_code == 128 + SIGKILL);
  CHECK(Describe(p.dest) != Describe(p.src));

  RunOutput again = p.Apply(id);
  INFO(again.out, again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("stale: ") == std::string::npos);
  CHECK(Describe(p.dest) == Describe(p.src));
  CHECK(TempFilesUnder(p.dest).empty());
  for (const char* path : {"new.txt", "dir/inner.txt", "link", "big0", "big3"}) {
    INFO(path);
    CHECK(p.Done("create", path) == 1);
  }
  CHECK(p.Done("update", "changed.txt") == 1);
  CHECK(p.Done("delete", "gone.txt") == 1);
  CHECK(p.Newest(false)[1] == 1);
}

}  // namespace ha_sync::test
