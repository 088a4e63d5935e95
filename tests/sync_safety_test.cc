// Two-way safety (docs/safety.md), end to end through both directions of a
// pair: the sync state, conflicts, trash, guards.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "sync_harness.h"

namespace ha_sync::test {

namespace {
constexpr int64_t kT0 = 1'700'000'000 * kSec;

struct Pair {
  TempDir t;
  int runs = 0;
  Pair() {
    MakeDirs(t / "a");
    MakeDirs(t / "b");
  }
  // One run of a direction, both with --delete-missing (the safe two-way setup).
  RunOutput Run(bool a_to_b, std::vector<std::string> extra = {"--delete-missing"}) {
    std::vector<std::string> args = SyncArgs(a_to_b ? t / "a" : t / "b", a_to_b ? t / "b" : t / "a",
                                             t / "log", extra);
    args.push_back("--direction");
    args.push_back(a_to_b ? "a-to-b" : "b-to-a");
    ++runs;
    return RunHaSync(args);
  }
  void Converge() {
    REQUIRE(Run(true).exit_code == 0);
    REQUIRE(Run(false).exit_code == 0);
    REQUIRE(Describe(t / "a") == Describe(t / "b"));
  }
  std::vector<std::string> ConflictCopies(const std::string& side) {
    std::vector<std::string> out;
    for (const auto& [rel, d] : Describe(t / side)) {
      if (rel.find(".ha-sync-conflict-") != std::string::npos) out.push_back(rel);
    }
    return out;
  }
};
}  // namespace

TEST_CASE("a delete on the non-primary side stays deleted with --delete-missing on both jobs") {
  Pair p;
  WriteFile(p.t / "a/keep", "k", kT0);
  WriteFile(p.t / "a/doomed", "d", kT0);
  WriteFile(p.t / "a/dir/doomed-too", "d", kT0);
  p.Converge();
  ::unlink((p.t / "b/doomed").c_str());
  RemoveTree(p.t / "b/dir");
  RunOutput r = p.Run(true);  // a -> b must not resurrect them
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(p.t / "b/doomed"));
  CHECK_FALSE(Exists(p.t / "b/dir"));
  r = p.Run(false);  // b -> a propagates the deletes
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(p.t / "a/doomed"));
  CHECK_FALSE(Exists(p.t / "a/dir/doomed-too"));
  CHECK(Exists(p.t / "a/keep"));
  CHECK(Describe(p.t / "a") == Describe(p.t / "b"));
  // The deleted version is in a's trash.
  bool in_trash = false;
  for (const auto& [rel, d] : Describe(p.t / "a/.ha-sync-trash")) {
    in_trash = in_trash || (rel.size() >= 6 && rel.substr(rel.size() - 6) == "doomed");
  }
  CHECK(in_trash);
}

TEST_CASE("a new file on dest survives the forward job and reaches src") {
  Pair p;
  WriteFile(p.t / "a/old", "o", kT0);
  p.Converge();
  WriteFile(p.t / "b/new-on-b", "fresh", kT0 + 10 * kSec);
  WriteFile(p.t / "b/newdir/inside", "fresh", kT0 + 10 * kSec);
  CHECK(p.Run(true).exit_code == 0);
  CHECK(Exists(p.t / "b/new-on-b"));
  CHECK(Exists(p.t / "b/newdir/inside"));
  CHECK(p.Run(false).exit_code == 0);
  CHECK(ReadFile(p.t / "a/new-on-b") == "fresh");
  CHECK(ReadFile(p.t / "a/newdir/inside") == "fresh");
}

TEST_CASE("without state --delete-missing behaves as the seed says, and says so") {
  Pair p;
  WriteFile(p.t / "b/only-b", "x", kT0);
  WriteFile(p.t / "a/only-a", "x", kT0);
  RunOutput r = p.Run(true);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("no sync state") != std::string::npos);
  CHECK_FALSE(Exists(p.t / "b/only-b"));

  SUBCASE("lost state falls back the same way") {
    p.Converge();
    for (const auto& [rel, d] : Describe(p.t / "log")) {
      if (rel.rfind("state-", 0) == 0) ::unlink((p.t / ("log/" + rel)).c_str());
    }
    WriteFile(p.t / "b/new", "n", kT0);
    r = p.Run(true);
    CHECK(r.err.find("no sync state") != std::string::npos);
  }
}

TEST_CASE("a sync state that cannot be read refuses the run: a file new on dest is not taken for one deleted on src") {
  Pair p;
  WriteFile(p.t / "a/f", "f", kT0);
  p.Converge();
  std::string state_name;
  for (const auto& [rel, d] : Describe(p.t / "log")) {
    if (rel.rfind("state-", 0) == 0 && rel.size() > 4 && rel.substr(rel.size() - 4) == ".hss") state_name = rel;
  }
  REQUIRE_FALSE(state_name.empty());
  const std::string state = p.t / ("log/" + state_name);
  const std::string damaged = ReadFile(state).substr(0, 20);
  WriteFile(state, damaged, kT0);
  WriteFile(p.t / "b/new-on-b", "fresh", kT0 + 10 * kSec);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--delete-missing"}, {"--delete-missing", "--dry-run"}, {}}) {
    CAPTURE(extra.size());
    const RunOutput r = p.Run(true, extra);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is corrupt") != std::string::npos);
    CHECK(r.err.find("nothing was touched") != std::string::npos);
    CHECK(Exists(p.t / "b/new-on-b"));
    CHECK(ReadFile(state) == damaged);  // the evidence stays for the operator
  }
  // With the guards off (--max-delete-percent 100) the engine refuses as well.
  const RunOutput r = p.Run(true, {"--delete-missing", "--max-delete-percent", "100"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("is corrupt") != std::string::npos);
  CHECK(Exists(p.t / "b/new-on-b"));
}

TEST_CASE("a --bench scratch folder in a root is neither synced nor deleted") {
  Pair p;
  WriteFile(p.t / "a/f", "f", kT0);
  p.Converge();
  WriteFile(p.t / "b/.ha-sync-bench-host-999/w0/scratch", "bench", kT0);  // left by a killed bench
  CHECK(p.Run(true).exit_code == 0);   // a -> b with --delete-missing
  CHECK(Exists(p.t / "b/.ha-sync-bench-host-999/w0/scratch"));
  CHECK(p.Run(false).exit_code == 0);  // b -> a
  CHECK_FALSE(Exists(p.t / "a/.ha-sync-bench-host-999"));
}

TEST_CASE("a type change on one side wins in both directions; changed on both sides, nothing is lost") {
  Pair p;
  WriteFile(p.t / "a/proj/x", "one", kT0);
  WriteFile(p.t / "a/proj/y", "two", kT0);
  WriteFile(p.t / "a/keep", "k", kT0);
  WriteFile(p.t / "a/edited", "v1", kT0);
  p.Converge();
  RemoveTree(p.t / "b/proj");
  WriteFile(p.t / "b/proj", "my new file", kT0 + 10 * kSec);  // b made the directory a file
  WriteFile(p.t / "a/edited", "v2 on a", kT0 + 20 * kSec);     // a edits the file ...
  RemoveTree(p.t / "b/edited");
  WriteFile(p.t / "b/edited/inside", "b made it a directory", kT0 + 30 * kSec);  // ... b made a directory
  RunOutput r = p.Run(true);  // a -> b must not undo b's change
  INFO(r.err);
  CHECK(ReadFile(p.t / "b/proj") == "my new file");
  CHECK(r.err.find("changed on both sides since the last sync (source is a file, destination is a directory)") !=
        std::string::npos);
  r = p.Run(false);  // b -> a carries b's file over a's unchanged directory
  INFO(r.err);
  CHECK(ReadFile(p.t / "a/proj") == "my new file");
  CHECK(ReadFile(p.t / "b/proj") == "my new file");
  // Changed on both sides: both versions stay where they are.
  CHECK(ReadFile(p.t / "a/edited") == "v2 on a");
  CHECK(ReadFile(p.t / "b/edited/inside") == "b made it a directory");
  // a's directory, unchanged since the sync, is in a's trash.
  bool x_in_trash = false;
  for (const auto& [rel, d] : Describe(p.t / "a/.ha-sync-trash")) {
    x_in_trash = x_in_trash || (rel.size() >= 7 && rel.substr(rel.size() - 7) == "/proj/x");
  }
  CHECK(x_in_trash);
}

TEST_CASE("a run with a type replacement reports each path once (its second pass re-plans the tree)") {
  TempDir t;
  for (const char* f : {"a", "b", "c", "d"}) WriteFile(t / (std::string("src/") + f), f, kT0);
  WriteFile(t / "src/x", "now a file", kT0 + 10 * kSec);
  WriteFile(t / "src/eq", "same size, src", kT0);  // equal mtime, other bytes: a conflict
  for (const char* f : {"a", "b", "c", "d"}) WriteFile(t / (std::string("dest/") + f), f, kT0);
  WriteFile(t / "dest/x/inside", "was a directory", kT0);
  WriteFile(t / "dest/eq", "same size, dest!", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing"}));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 2);  // the conflict
  CHECK(ReadFile(t / "dest/x") == "now a file");
  CHECK(r.out.find("skipped 4,") != std::string::npos);
  CHECK(r.out.find("failed 1;") != std::string::npos);
  const std::string conflict = "update 'eq' failed: conflict";
  const size_t at = r.err.find(conflict);
  CHECK(at != std::string::npos);
  CHECK(r.err.find(conflict, at + 1) == std::string::npos);  // once
}

TEST_CASE("an edit on both sides keeps both versions") {
  Pair p;
  WriteFile(p.t / "a/doc.txt", "original", kT0);
  p.Converge();
  WriteFile(p.t / "a/doc.txt", "edited on a, later", kT0 + 100 * kSec);
  WriteFile(p.t / "b/doc.txt", "edited on b", kT0 + 50 * kSec);
  RunOutput r = p.Run(true);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("conflict") != std::string::npos);
  CHECK(ReadFile(p.t / "b/doc.txt") == "edited on a, later");
  auto copies = p.ConflictCopies("b");
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].find("doc.ha-sync-conflict-") == 0);
  CHECK(copies[0].find("-a-to-b.txt") != std::string::npos);
  CHECK(ReadFile(p.t / ("b/" + copies[0])) == "edited on b");
  CHECK(p.Run(false).exit_code == 0);
  CHECK(Describe(p.t / "a") == Describe(p.t / "b"));
  CHECK(p.ConflictCopies("a").size() == 1);
}

TEST_CASE("an edit on one side wins even with an older mtime (a restore)") {
  Pair p;
  WriteFile(p.t / "a/f", "current", kT0 + 100 * kSec);
  p.Converge();
  WriteFile(p.t / "b/f", "restored old", kT0);  // older mtime, but b is the side that changed
  CHECK(p.Run(true).exit_code == 0);
  CHECK(ReadFile(p.t / "b/f") == "restored old");  // a->b does not undo the restore
  CHECK(p.Run(false).exit_code == 0);
  CHECK(ReadFile(p.t / "a/f") == "restored old");
}

TEST_CASE("overwritten files are kept in the trash; trash is never synced") {
  Pair p;
  WriteFile(p.t / "a/f", "v1", kT0);
  p.Converge();
  WriteFile(p.t / "a/f", "v2-longer", kT0 + 10 * kSec);
  CHECK(p.Run(true).exit_code == 0);
  CHECK(ReadFile(p.t / "b/f") == "v2-longer");
  int v1 = 0;
  for (const auto& [rel, d] : Describe(p.t / "b/.ha-sync-trash")) {
    if (rel.size() > 2 && rel.substr(rel.size() - 2) == "/f") v1 += ReadFile(p.t / ("b/.ha-sync-trash/" + rel)) == "v1";
  }
  CHECK(v1 == 1);
  CHECK(p.Run(false).exit_code == 0);
  CHECK_FALSE(Exists(p.t / "a/.ha-sync-trash"));  // b's trash did not travel

  SUBCASE("--trash-retain-days 0 overwrites for real") {
    WriteFile(p.t / "a/g", "g1", kT0);
    REQUIRE(p.Run(true, {"--trash-retain-days", "0"}).exit_code == 0);
    WriteFile(p.t / "a/g", "g2-longer", kT0 + 10 * kSec);
    REQUIRE(p.Run(true, {"--trash-retain-days", "0"}).exit_code == 0);
    int g = 0;
    for (const auto& [rel, d] : Describe(p.t / "b/.ha-sync-trash")) g += rel.size() > 2 && rel.substr(rel.size() - 2) == "/g";
    CHECK(g == 0);
  }
  SUBCASE("old trash expires only in a run that keeps a trash and goes through") {
    const std::string old_run = p.t / "b/.ha-sync-trash/20000101T000000Z-00000000000000000000000000000000";
    WriteFile(old_run + "/old", "old", kT0);
    // --trash-retain-days 0: nothing of this run is kept, nothing earlier goes.
    WriteFile(p.t / "a/h", "h", kT0);
    REQUIRE(p.Run(true, {"--trash-retain-days", "0"}).exit_code == 0);
    CHECK(Exists(old_run + "/old"));
    CHECK(v1 == 1);
    // Refused by --max-delete: the run touches nothing, the trash included.
    ::unlink((p.t / "a/h").c_str());
    const RunOutput refused = p.Run(true, {"--delete-missing", "--max-delete", "0"});
    CHECK(refused.exit_code != 0);
    CHECK(Exists(old_run + "/old"));
    // A run that keeps a trash (14 days) expires the folder from 2000, and
    // keeps this week's.
    REQUIRE(p.Run(true).exit_code == 0);
    CHECK_FALSE(Exists(old_run));
    int kept_v1 = 0;
    for (const auto& [rel, d] : Describe(p.t / "b/.ha-sync-trash")) {
      if (rel.size() > 2 && rel.substr(rel.size() - 2) == "/f") kept_v1 += ReadFile(p.t / ("b/.ha-sync-trash/" + rel)) == "v1";
    }
    CHECK(kept_v1 == 1);
  }
}

TEST_CASE("without a state, a deleted directory keeps what is settling and temp-named files no run made") {
  // A fresh file inside a dest-only directory was deleted while one at the
  // top was kept; so was a user's file that only looks like a temp name.
  TempDir t;
  WriteFile(t / "src/keep", "k", kT0);
  WriteFile(t / "dest/old-dir/old", "o", kT0);
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  WriteFile(t / "dest/old-dir/fresh", "being written", now);
  WriteFile(t / "dest/old-dir/.ha-sync.report.pdf.0123456789abcdef.tmp", "not ours", kT0);
  WriteFile(t / "dest/old-dir/future", "f", now + 1000 * kSec);  // not settling: no run would ever see it settle
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--delete-missing", "--min-age", "3600"}));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "dest/old-dir/old"));  // synced-looking content still goes
  CHECK_FALSE(Exists(t / "dest/old-dir/future"));  // as a future-dated file at the top
  CHECK(ReadFile(t / "dest/old-dir/fresh") == "being written");
  CHECK(ReadFile(t / "dest/old-dir/.ha-sync.report.pdf.0123456789abcdef.tmp") == "not ours");
}

TEST_CASE("settle window: files modified within --min-age wait for the next run") {
  Pair p;
  WriteFile(p.t / "a/old", "o", kT0);
  WriteFile(p.t / "a/being-written", "partial");  // mtime now
  RunOutput r = p.Run(true, {"--min-age", "3600"});
  CHECK(r.exit_code == 0);
  CHECK(Exists(p.t / "b/old"));
  CHECK_FALSE(Exists(p.t / "b/being-written"));
  CHECK(r.out.find("1 file(s) modified within --min-age") != std::string::npos);
}

TEST_CASE("mount markers: the run refuses unless the marker is in both roots") {
  Pair p;
  WriteFile(p.t / "a/.mounted", "", kT0);
  WriteFile(p.t / "a/data", "d", kT0);
  RunOutput r = p.Run(true, {"--require-marker", ".mounted"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(".mounted") != std::string::npos);
  CHECK(r.err.find(p.t / "b") != std::string::npos);
  CHECK_FALSE(Exists(p.t / "b/data"));
  WriteFile(p.t / "b/.mounted", "", kT0);
  CHECK(p.Run(true, {"--require-marker", ".mounted"}).exit_code == 0);
  CHECK(Exists(p.t / "b/data"));
}

TEST_CASE("mount markers: a symlink or a directory of that name is no marker") {
  Pair p;
  WriteFile(p.t / "a/data", "d", kT0);
  WriteFile(p.t / "a/.mounted", "", kT0);
  REQUIRE(::symlink("/nonexistent/marker", (p.t / "b/.mounted").c_str()) == 0);  // dangling
  RunOutput r = p.Run(true, {"--require-marker", ".mounted"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("marker '.mounted' is not a regular file in '" + p.t / "b" + "'") != std::string::npos);
  REQUIRE(::unlink((p.t / "b/.mounted").c_str()) == 0);
  MakeDirs(p.t / "b/.mounted");
  r = p.Run(true, {"--require-marker", ".mounted"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not a regular file") != std::string::npos);
  CHECK_FALSE(Exists(p.t / "b/data"));
}

TEST_CASE("a file dated in the future does not win automatically") {
  Pair p;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  WriteFile(p.t / "a/f", "from the future", now + 86400 * kSec);
  WriteFile(p.t / "b/f", "today", kT0);
  RunOutput r = p.Run(true, {});
  CHECK(r.exit_code == 0);
  CHECK(ReadFile(p.t / "b/f") == "today");
  CHECK(r.err.find("future") != std::string::npos);
}

TEST_CASE("a read error during the scan disables deletes for that run") {
  if (::geteuid() != 0) return;  // needs to drop to another user (CI runs as root)
  Pair p;
  WriteFile(p.t / "a/locked/secret", "s", kT0);
  WriteFile(p.t / "b/extra", "e", kT0);
  ::chmod((p.t / "a/locked").c_str(), 0700);  // root-owned: unreadable for nobody
  for (const char* d : {"a", "b"}) ::chown((p.t / d).c_str(), 65534, 65534);
  ::chown((p.t / "b/extra").c_str(), 65534, 65534);
  MakeDirs(p.t / "log");
  ::chown((p.t / "log").c_str(), 65534, 65534);
  RunOutput r = RunHaSyncAs(65534, SyncArgs(p.t / "a", p.t / "b", p.t / "log", {"--delete-missing"}));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("deletes disabled") != std::string::npos);
  CHECK(Exists(p.t / "b/extra"));
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("undo restores a run exactly, and refuses after a later change") {
  TempDir t;
  WriteFile(t / "a/changed", "v1", kT0);
  WriteFile(t / "a/deleted", "gone soon", kT0);
  WriteFile(t / "a/dir/deleted-too", "gone soon", kT0);
  WriteFile(t / "a/same", "same", kT0);
  MakeDirs(t / "b");
  auto args = SyncArgs(t / "a", t / "b", t / "log", {"--delete-missing"});
  REQUIRE(RunHaSync(args).exit_code == 0);
  const auto before = Describe(t / "b");

  WriteFile(t / "a/changed", "v2 is longer", kT0 + 10 * kSec);
  ::unlink((t / "a/deleted").c_str());
  RemoveTree(t / "a/dir");
  WriteFile(t / "a/created", "new", kT0);
  WriteFile(t / "a/newdir/created-too", "new", kT0);
  RunOutput r = RunHaSync(args);
  REQUIRE(r.exit_code == 0);
  const std::string run_id = RunIdFrom(r.out);
  const auto after = Describe(t / "b");
  REQUIRE(after != before);

  const std::vector<std::string> undo = {"undo", "--dest", t / "b", "--pair", "test", "--run-id", run_id,
                                         "--log-dir", t / "log"};
  RunOutput plan = RunHaSync(undo);
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK(plan.out.find("would restore from trash") != std::string::npos);
  CHECK(Describe(t / "b") == after);  // planning touches nothing

  SUBCASE("applied, it restores the tree as it was") {
    std::vector<std::string> apply = undo;
    apply.push_back("--apply");
    RunOutput done = RunHaSync(apply);
    INFO(done.err);
    CHECK(done.exit_code == 0);
    CHECK(Describe(t / "b") == before);
    // ... and it is recorded as a run of its own.
    bool recorded = false;
    for (const auto& op : ReadOps(t / "log")) recorded = recorded || op.filepath == "created";
    CHECK(recorded);
  }
  SUBCASE("a path changed since: refused, listed, nothing touched") {
    WriteFile(t / "b/created", "edited by hand", kT0 + 99 * kSec);
    const auto edited = Describe(t / "b");
    std::vector<std::string> apply = undo;
    apply.push_back("--apply");
    RunOutput refused = RunHaSync(apply);
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("created: changed since that run") != std::string::npos);
    CHECK(Describe(t / "b") == edited);
  }
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("a log directory inside a root is never synced nor deleted") {
  TempDir t;
  WriteFile(t / "a/data", "d", kT0);
  WriteFile(t / "b/data", "d", kT0);
  // The logs live inside b (like the logs export inside the infra share).
  auto args = SyncArgs(t / "a", t / "b", t / "b/ha-sync-logs", {"--delete-missing"});
  RunOutput r = RunHaSync(args);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(Exists(t / "b/ha-sync-logs/ha-sync.db"));
  // Reverse: the logs dir is in src now and must not be copied to a.
  r = RunHaSync(SyncArgs(t / "b", t / "a", t / "b/ha-sync-logs", {"--delete-missing"}));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / "a/ha-sync-logs"));
  r = RunHaSync(args);
  CHECK(r.exit_code == 0);
  CHECK(Exists(t / "b/ha-sync-logs/ha-sync.db"));
}

TEST_CASE("an excluded path inside a directory deleted from src is kept, and so is its directory") {
  TempDir t;
  WriteFile(t / "a/data", "d", kT0);
  WriteFile(t / "a/photos/del", "x", kT0);
  WriteFile(t / "a/photos/keep", "k", kT0);
  const auto args = [&](const std::string& dest, const std::string& log) {
    return SyncArgs(t / "a", dest, log, {"--delete-missing", "--exclude", "photos/keep", "--max-delete-percent", "100"});
  };
  // With a sync state: synced first (before the exclude), then src loses photos/.
  MakeDirs(t / "b");
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log")).exit_code == 0);
  // Without one: a first run whose dest holds the directory.
  WriteFile(t / "c/photos/del", "x", kT0);
  WriteFile(t / "c/photos/keep", "k", kT0);
  RemoveTree(t / "a/photos");
  for (const char* dest : {"b", "c"}) {
    INFO(dest);
    RunOutput r = RunHaSync(args(t / dest, t / (std::string("log-") + dest)));
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(ReadFile(t / dest + "/photos/keep") == "k");
    CHECK_FALSE(Exists(t / dest + "/photos/del"));
  }
}

TEST_CASE("a log directory inside dest, under a directory src lacks, survives --delete-missing") {
  TempDir t;
  WriteFile(t / "a/data", "d", kT0);
  WriteFile(t / "b/admin/notes", "n", kT0);
  const auto args = SyncArgs(t / "a", t / "b", t / "b/admin/ha-sync-logs", {"--delete-missing"});
  for (int run = 0; run < 2; ++run) {
    RunOutput r = RunHaSync(args);
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(Exists(t / "b/admin/ha-sync-logs/ha-sync.db"));
    CHECK(Exists(t / "b/admin/ha-sync-logs/state-test.hss"));
    CHECK_FALSE(Exists(t / "b/admin/notes"));
  }
}

TEST_CASE("--log-dir that is a root itself is refused before anything is touched") {
  TempDir t;
  WriteFile(t / "a/data", "d", kT0);
  WriteFile(t / "b/old", "o", kT0);
  for (const char* root : {"a", "b"}) {
    RunOutput r = RunHaSync(SyncArgs(t / "a", t / "b", t / root, {"--delete-missing"}));
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("is the root") != std::string::npos);
    CHECK(Exists(t / "b/old"));
    CHECK_FALSE(Exists(t / "b/data"));
  }
}

TEST_CASE("--exclude keeps a path out of the sync on both sides") {
  TempDir t;
  WriteFile(t / "a/data", "d", kT0);
  WriteFile(t / "a/cache/big", "c", kT0);
  WriteFile(t / "b/cache/other", "o", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "a", t / "b", t / "log", {"--delete-missing", "--exclude", "cache"}));
  CHECK(r.exit_code == 0);
  CHECK(Exists(t / "b/data"));
  CHECK_FALSE(Exists(t / "b/cache/big"));
  CHECK(Exists(t / "b/cache/other"));
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("a run writes nothing into its source, the clock probe included") {
  TempDir t;
  WriteFile(t / "a/f", "f", kT0);
  MakeDirs(t / "b");
  struct stat before, after;
  REQUIRE(::stat((t / "a").c_str(), &before) == 0);
  RunOutput r = RunHaSync(SyncArgs(t / "a", t / "b", t / "log"));
  REQUIRE(r.exit_code == 0);
  REQUIRE(::stat((t / "a").c_str(), &after) == 0);
  // Creating and removing a probe file would have changed the ctime.
  CHECK(after.st_ctim.tv_sec == before.st_ctim.tv_sec);
  CHECK(after.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
}

TEST_CASE("the clock probe leaves both roots' mtimes as they were") {
  TempDir t;
  WriteFile(t / "a/f", "f", kT0);
  MakeDirs(t / "b");
  SetMtime(t / "a", kT0);
  SetMtime(t / "b", kT0 + 5);
  RunOutput r = RunHaSync(SyncArgs(t / "a", t / "b", t / "log"));
  REQUIRE(r.exit_code == 0);
  CHECK(MtimeNs(t / "a") == kT0);
  CHECK(MtimeNs(t / "b") == kT0);  // dest root gets src root's time after its contents
  r = RunHaSync(SyncArgs(t / "a", t / "b", t / "log"));  // a no-op run
  CHECK(MtimeNs(t / "a") == kT0);
  CHECK(MtimeNs(t / "b") == kT0);
}

TEST_CASE("creating the trash folder leaves the dest root's mtime as the run set it") {
  TempDir t;
  WriteFile(t / "a/d/f", "v1", kT0);
  WriteFile(t / "a/d/g", "g", kT0);
  SetMtime(t / "a/d", kT0);
  SetMtime(t / "a", kT0);
  MakeDirs(t / "b");
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log", {"--trash-retain-days", "0"})).exit_code == 0);
  REQUIRE(MtimeNs(t / "b") == kT0);
  REQUIRE_FALSE(Exists(t / "b/.ha-sync-trash"));
  // An update deep in the tree: the old version goes to a trash folder
  // created at the root during the walk; nothing else in the root changes.
  WriteFile(t / "a/d/f", "v2-longer", kT0 + 10 * kSec);
  SetMtime(t / "a/d", kT0);
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log")).exit_code == 0);
  CHECK(Exists(t / "b/.ha-sync-trash"));
  CHECK(ReadFile(t / "b/d/f") == "v2-longer");
  CHECK(MtimeNs(t / "b") == kT0);
  CHECK(MtimeNs(t / "b/d") == kT0);
  // A delete is the run's only change: the trash folder is created after
  // the walk, in the delete phase.
  RemoveTree(t / "b/.ha-sync-trash");
  SetMtime(t / "b", kT0);
  ::unlink((t / "a/d/g").c_str());
  SetMtime(t / "a/d", kT0);
  REQUIRE(RunHaSync(SyncArgs(t / "a", t / "b", t / "log", {"--delete-missing"})).exit_code == 0);
  CHECK_FALSE(Exists(t / "b/d/g"));
  CHECK(Exists(t / "b/.ha-sync-trash"));
  CHECK(MtimeNs(t / "b") == kT0);
  CHECK(MtimeNs(t / "b/d") == kT0);
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("every change to dest is announced in the opslog before it happens") {
  TempDir t;
  WriteFile(t / "a/f", "f", kT0);
  WriteFile(t / "a/d/g", "g", kT0);
  MakeDirs(t / "b");
  // An unreachable store keeps the opslog for reading.
  RunOutput r = RunHaSync(SyncArgs(t / "a", t / "b", t / "log",
                                   {"--db-dsn", "sqlite://" + (t / "no-dir/x.db")}));
  REQUIRE(r.exit_code == 0);
  std::string text;
  for (const auto& [rel, d] : Describe(t / "log")) {
    if (rel.rfind("opslog-", 0) == 0) text += ReadFile(t / ("log/" + rel));
  }
  size_t intents = 0, ops = 0;
  for (size_t at = 0; (at = text.find("\"type\":\"intent\"", at)) != std::string::npos; ++at) ++intents;
  for (size_t at = 0; (at = text.find("\"type\":\"op\"", at)) != std::string::npos; ++at) ++ops;
  CHECK(ops == 3);  // f, d/, d/g
  CHECK(intents == ops);
  CHECK(text.find("\"type\":\"intent\"") < text.find("\"type\":\"op\""));
}

}  // namespace ha_sync::test
