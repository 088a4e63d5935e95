// Sharded runs (--shard I/N, docs/cli.md "Shards"), end to end on real
// trees (the suite runs once per io engine): N shards run at once do
// exactly what one run does (same dest tree, same audit rows apart from
// their iteration, nothing done twice, nothing missed) for N = 1, 2, 3, 7,
// over a first copy and a second run with state, deletes and type changes;
// their rows share one run group; a dry-run is idempotent per shard; every
// shard applies the root guard to the whole root and its group's state; the
// group's --max-delete is split; and the pair's lock keeps sharded and
// unsharded runs apart while the shards of one run work side by side.
#include <doctest/doctest.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <set>
#include <thread>
#include <tuple>

#include "audit/dsn.h"
#include "audit/sql_connection.h"
#include "sync_harness.h"

namespace ha_sync::test {

namespace {
constexpr int64_t kT0 = 1'700'000'000 * kSec;

// One side of the comparison: its own src, dest and log dir.
struct Side {
  TempDir t;
  std::string src() const { return t / "src"; }
  std::string dest() const { return t / "dest"; }
  std::string log() const { return t / "log"; }
};

// A tree with many top-level directories (so every shard of 7 gets some),
// files and a symlink in the root, nesting, and a dest that already holds
// some of it (in sync, older, newer) and things src does not have.
void BuildFirst(const Side& s) {
  for (int d = 0; d < 24; ++d) {
    const std::string dir = "dir" + std::to_string(d);
    for (int f = 0; f < 3; ++f) {
      WriteFile(s.src() + "/" + dir + "/f" + std::to_string(f), dir + "-" + std::to_string(f), kT0 + d * kSec);
    }
    WriteFile(s.src() + "/" + dir + "/sub/deep/x", "deep" + dir, kT0);
  }
  WriteFile(s.src() + "/root-file", "root", kT0);
  WriteFile(s.src() + "/root-file2", "root2", kT0);
  REQUIRE(::symlink("dir1/f0", (s.src() + "/root-link").c_str()) == 0);
  SetMtime(s.src() + "/root-link", kT0);  // the same on both sides of a comparison
  // dest: in sync, older (update), newer (kept), and dest-only entries.
  WriteFile(s.dest() + "/dir0/f0", "dir0-0", kT0);
  WriteFile(s.dest() + "/dir1/f0", "stale", kT0 - 100 * kSec);
  WriteFile(s.dest() + "/dir2/f1", "newer on dest", kT0 + 500 * kSec);
  WriteFile(s.dest() + "/only-dest-dir/a", "a", kT0);
  WriteFile(s.dest() + "/only-dest-file", "b", kT0);
}

// Changes between the first and the second run: deletes on src (a file, a
// whole top-level directory, a root file), new files, an update, and a
// type change at the root (a file becomes a directory).
void ChangeSecond(const Side& s) {
  RemoveTree(s.src() + "/dir3/f1");
  RemoveTree(s.src() + "/dir4");
  RemoveTree(s.src() + "/root-file2");
  WriteFile(s.src() + "/dir5/new", "new", kT0 + 1000 * kSec);
  WriteFile(s.src() + "/newdir/n", "n", kT0 + 1000 * kSec);
  WriteFile(s.src() + "/dir6/f0", "changed", kT0 + 2000 * kSec);
  RemoveTree(s.src() + "/root-file");
  WriteFile(s.src() + "/root-file/now-a-dir", "d", kT0 + 1000 * kSec);
}

std::vector<std::string> Args(const Side& s, std::vector<std::string> extra) {
  extra.push_back("--delete-missing");
  extra.push_back("--trash-retain-days");
  extra.push_back("0");
  return SyncArgs(s.src(), s.dest(), s.log(), extra);
}

// Runs N shards at once (processes standing in for pods).
std::vector<RunOutput> RunShards(const Side& s, int n, const std::string& group,
                                 std::vector<std::string> extra = {}) {
  std::vector<Running> running;
  for (int i = 0; i < n; ++i) {
    auto args = Args(s, extra);
    for (const char* a : {"--shard", "", "--run-group", ""}) args.push_back(a);
    args[args.size() - 3] = std::to_string(i) + "/" + std::to_string(n);
    args.back() = group;
    running.push_back(StartHaSync(args));
  }
  std::vector<RunOutput> outs;
  for (Running& r : running) outs.push_back(Wait(r));
  return outs;
}

using OpKey = std::tuple<int, std::string, std::optional<int64_t>, std::optional<int64_t>,
                         std::optional<std::string>, std::optional<std::string>, int, bool>;

std::vector<OpKey> Keys(const std::vector<OpRecord>& ops) {
  std::vector<OpKey> keys;
  for (const OpRecord& op : ops) {
    keys.emplace_back(static_cast<int>(op.operation), op.filepath, op.size_before, op.size_after,
                      op.md5_before, op.md5_after, static_cast<int>(op.status), op.dry_run);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::unique_ptr<audit::SqlConnection> Store(const std::string& log_dir) {
  auto dsn = audit::ParseDsn("", log_dir);
  REQUIRE(dsn.ok());
  audit::SqlOpenOptions options;
  options.read_only = true;
  auto conn = audit::OpenSqlConnection(*dsn, options);
  REQUIRE(conn.ok());
  return std::move(*conn);
}

struct IterationRow {
  std::string status, group;
  std::optional<int64_t> index, count;
  int64_t created = 0, updated = 0, deleted = 0, failed = 0;
};

std::vector<IterationRow> Iterations(const std::string& log_dir) {
  auto rows = Store(log_dir)->QueryAll(
      "SELECT status, run_group, shard_index, shard_count, files_created, files_updated, "
      "files_deleted, files_failed FROM sync_iterations ORDER BY id");
  REQUIRE(rows.ok());
  std::vector<IterationRow> out;
  for (const auto& r : *rows) {
    IterationRow it;
    audit::GetText(r[0], &it.status);
    audit::GetText(r[1], &it.group);
    int64_t v;
    if (audit::GetInt(r[2], &v)) it.index = v;
    if (audit::GetInt(r[3], &v)) it.count = v;
    audit::GetInt(r[4], &it.created);
    audit::GetInt(r[5], &it.updated);
    audit::GetInt(r[6], &it.deleted);
    audit::GetInt(r[7], &it.failed);
    out.push_back(it);
  }
  return out;
}

// One run's result against the N shards' together: trees and rows.
void CompareRound(const Side& one, const Side& many, int n, const std::string& group, size_t rows_before) {
  const auto want = Describe(one.dest()), got = Describe(many.dest());
  for (const auto& [path, d] : want) {
    auto it = got.find(path);
    if (it == got.end() || it->second != d) FAIL_CHECK("differs: " << path << " " << d << " vs " << (it == got.end() ? "missing" : it->second));
  }
  for (const auto& [path, d] : got) {
    if (!want.count(path)) FAIL_CHECK("extra: " << path << " " << d);
  }
  const auto single = Keys(ReadOps(one.log()));
  const auto sharded = Keys(ReadOps(many.log()));
  CHECK(single.size() == sharded.size());
  CHECK(single == sharded);
  // Nothing done twice: every path has one record in the round.
  std::set<std::pair<int, std::string>> seen;
  for (const OpKey& k : sharded) CHECK(seen.insert({std::get<0>(k), std::get<1>(k)}).second);
  const auto rows = Iterations(many.log());
  REQUIRE(rows.size() == rows_before + static_cast<size_t>(n));
  std::set<int64_t> indexes;
  for (size_t i = rows_before; i < rows.size(); ++i) {
    CHECK(rows[i].status == "success");
    if (n > 1) {
      CHECK(rows[i].group == group);
      CHECK(rows[i].count == n);
      if (rows[i].index) indexes.insert(*rows[i].index);
    } else {
      CHECK(!rows[i].count);  // 0/1 is an unsharded run
    }
  }
  if (n > 1) CHECK(indexes.size() == static_cast<size_t>(n));
}
}  // namespace

TEST_CASE("N shards together do exactly what one run does, N = 1, 2, 3, 7") {
  for (int n : {1, 2, 3, 7}) {
    CAPTURE(n);
    Side one, many;
    BuildFirst(one);
    BuildFirst(many);
    RunOutput single = RunHaSync(Args(one, {}));
    INFO(single.out, single.err);
    REQUIRE(single.exit_code == 0);
    const std::string group = "group-" + std::to_string(n);
    for (const RunOutput& r : RunShards(many, n, group + "-a")) {
      INFO(r.out, r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out.find("is locked") == std::string::npos);
    }
    CompareRound(one, many, n, group + "-a", 0);
    // Every shard of N > 1 kept its own state file; none wrote the pair's.
    if (n > 1) {
      CHECK(!Exists(many.log() + "/state-test.hss"));
      for (int i = 0; i < n; ++i) {
        CHECK(Exists(many.log() + "/state-test.shard-" + std::to_string(i) + "-of-" + std::to_string(n) + ".hss"));
      }
    }

    // Second round: with state, deletes, a type change at the root.
    ChangeSecond(one);
    ChangeSecond(many);
    single = RunHaSync(Args(one, {}));
    REQUIRE(single.exit_code == 0);
    for (const RunOutput& r : RunShards(many, n, group + "-b")) {
      INFO(r.out, r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out.find("is locked") == std::string::npos);
    }
    CompareRound(one, many, n, group + "-b", static_cast<size_t>(n));
    CHECK(ReadFile(many.dest() + "/dir2/f1") == "newer on dest");
    CHECK(!Exists(many.dest() + "/dir4"));
  }
}

TEST_CASE("a sharded pair first run plans with the unsharded state; a dry-run is current per shard") {
  Side s;
  BuildFirst(s);
  REQUIRE(RunHaSync(Args(s, {})).exit_code == 0);  // unsharded: writes state-test.hss
  // dest-only entries the unsharded run deleted are back, but created on dest
  // after the last sync: the state (read by every shard) says "new on dest".
  WriteFile(s.dest() + "/dir7/dest-new", "keep me", kT0);
  WriteFile(s.dest() + "/dest-new-root", "keep me too", kT0);
  for (const RunOutput& r : RunShards(s, 3, "g1")) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
  }
  CHECK(Exists(s.dest() + "/dir7/dest-new"));
  CHECK(Exists(s.dest() + "/dest-new-root"));

  RemoveTree(s.src() + "/dir9/f2");
  for (const RunOutput& r : RunShards(s, 3, "dry1", {"--dry-run"})) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("already current") == std::string::npos);
  }
  // Unchanged: every shard finds its own plan current, including the shards
  // whose plan is empty and the one with the delete.
  for (const RunOutput& r : RunShards(s, 3, "dry2", {"--dry-run"})) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Dry-run already current") != std::string::npos);
  }
  CHECK(Exists(s.dest() + "/dir9/f2"));
}

TEST_CASE("--delete-missing is refused while only another shard count kept the pair's state; a run without it records its own") {
  Side s;
  BuildFirst(s);
  for (const RunOutput& r : RunShards(s, 2, "g1")) {
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
  }
  WriteFile(s.dest() + "/dir7/dest-new", "keep me", kT0);
  WriteFile(s.dest() + "/dest-new-root", "keep me too", kT0);
  for (const RunOutput& r : RunShards(s, 3, "g2")) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("another --shard count") != std::string::npos);
    CHECK(r.err.find("nothing was touched") != std::string::npos);
  }
  const RunOutput unsharded = RunHaSync(Args(s, {}));
  CHECK(unsharded.exit_code == 1);
  CHECK(unsharded.err.find("another --shard count") != std::string::npos);
  CHECK(Exists(s.dest() + "/dir7/dest-new"));
  CHECK(Exists(s.dest() + "/dest-new-root"));
  // Without --delete-missing the 3 shards record their state; then deletes
  // are planned against it and the files new on dest stay.
  for (int i = 0; i < 3; ++i) {
    const RunOutput r = RunHaSync(SyncArgs(s.src(), s.dest(), s.log(),
                                           {"--shard", std::to_string(i) + "/3", "--run-group", "g3"}));
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
  }
  for (const RunOutput& r : RunShards(s, 3, "g4")) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 0);
  }
  CHECK(Exists(s.dest() + "/dir7/dest-new"));
  CHECK(Exists(s.dest() + "/dest-new-root"));
}

TEST_CASE("every shard refuses an unmounted share on the whole root, also a shard that owns nothing there") {
  Side s;
  // Four top-level directories over seven shards: at least two shards own
  // none of them (shard 0 has the root file), so their own state knows
  // nothing at the root; only the group's state tells the share is gone.
  for (int d = 0; d < 4; ++d) WriteFile(s.src() + "/d" + std::to_string(d) + "/f", "x", kT0);
  WriteFile(s.src() + "/top", "t", kT0);
  MakeDirs(s.dest());
  for (const RunOutput& r : RunShards(s, 7, "g1")) {
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
  }
  REQUIRE(Describe(s.src()) == Describe(s.dest()));
  // dest's share is unmounted: an empty mount point.
  REQUIRE(::rename(s.dest().c_str(), (s.t / "dest-offline").c_str()) == 0);
  MakeDirs(s.dest());
  for (const RunOutput& r : RunShards(s, 7, "g2")) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("refusing to run pair 'test'") != std::string::npos);
  }
  CHECK(Describe(s.dest()).empty());
  // src unmounted instead, with --delete-missing: the same, on every shard.
  RemoveTree(s.dest());
  REQUIRE(::rename((s.t / "dest-offline").c_str(), s.dest().c_str()) == 0);
  REQUIRE(::rename(s.src().c_str(), (s.t / "src-offline").c_str()) == 0);
  MakeDirs(s.src());
  for (const RunOutput& r : RunShards(s, 7, "g3")) {
    INFO(r.out, r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("refusing to run pair 'test'") != std::string::npos);
  }
  CHECK(Describe(s.dest()).size() == Describe(s.t / "src-offline").size());
}

TEST_CASE("--max-delete N is the group's: split evenly over the shards, never more in total") {
  Side s;
  // One file in each of 6 directories, all of it deleted on src later.
  for (int d = 0; d < 6; ++d) WriteFile(s.src() + "/d" + std::to_string(d) + "/f", "x", kT0);
  WriteFile(s.src() + "/keep/k", "k", kT0);  // src is not empty: not the unmounted guard
  MakeDirs(s.dest());
  for (const RunOutput& r : RunShards(s, 2, "g1")) {
    INFO(r.out, r.err);
    REQUIRE(r.exit_code == 0);
  }
  for (int d = 0; d < 6; ++d) RemoveTree(s.src() + "/d" + std::to_string(d));
  // --max-delete 1 over 2 shards: shard 0 may delete 1, shard 1 none; the
  // budget is per shard, so a shard with 2 or more deletes refuses all of its
  // own, and the group deletes at most 1 file.
  for (const RunOutput& r : RunShards(s, 2, "g2", {"--max-delete", "1", "--max-delete-percent", "100"})) {
    INFO(r.out, r.err);
  }
  int files_left = 0;
  for (int d = 0; d < 6; ++d) files_left += Exists(s.dest() + "/d" + std::to_string(d) + "/f") ? 1 : 0;
  CHECK(files_left >= 5);
  // Without a limit every delete is done once.
  for (const RunOutput& r : RunShards(s, 2, "g3", {"--max-delete-percent", "100"})) CHECK(r.exit_code == 0);
  for (int d = 0; d < 6; ++d) CHECK(!Exists(s.dest() + "/d" + std::to_string(d)));
  CHECK(Exists(s.dest() + "/keep/k"));
}

TEST_CASE("the pair's lock: shards of a run work side by side; sharded and unsharded runs exclude each other") {
  Side s;
  const std::string big(8 * 4096, 'B');  // 8 blocks of 4 KiB, slowed down below
  for (int d = 0; d < 16; ++d) WriteFile(s.src() + "/d" + std::to_string(d) + "/big", big, kT0);
  MakeDirs(s.dest());
  // One file at a time, 150 ms a block: each run below is busy for seconds.
  const std::vector<std::string> slow = {"HA_SYNC_TEST_BLOCK_DELAY_MS=150"};
  const std::vector<std::string> busy = {"--block-size", "4096", "--workers", "1"};
  auto shard_args = [&](int i, int n, const std::string& group) {
    auto extra = busy;
    for (const std::string& a : {std::string("--shard"), std::to_string(i) + "/" + std::to_string(n),
                                 std::string("--run-group"), group}) {
      extra.push_back(a);
    }
    return Args(s, extra);
  };
  auto locked = [](const RunOutput& r) {
    return r.exit_code == 0 && r.out.find("is locked by another run") != std::string::npos;
  };
  // An unsharded run holds the pair: a shard finds it locked and does nothing.
  Running plain = StartHaSync(Args(s, busy), slow);
  REQUIRE(WaitForTempData(s.dest()));
  RunOutput shard = RunHaSync(shard_args(0, 2, "g1"));
  INFO(shard.out, shard.err);
  CHECK(locked(shard));
  ::kill(plain.pid, SIGTERM);
  CHECK(Wait(plain).exit_code == 1);  // interrupted: it was still working

  // The shards of a run hold it together: both work at once, while an
  // unsharded run, a run of another shard count and a second copy of a
  // shard are kept out.
  Running a = StartHaSync(shard_args(0, 2, "g2"), slow);
  Running b = StartHaSync(shard_args(1, 2, "g2"), slow);
  REQUIRE(WaitForTempData(s.dest()));
  RunOutput blocked = RunHaSync(Args(s, {}));
  RunOutput other_n = RunHaSync(shard_args(0, 3, "g3"));
  RunOutput same_shard = RunHaSync(shard_args(1, 2, "g4"));
  ::kill(a.pid, SIGTERM);
  ::kill(b.pid, SIGTERM);
  RunOutput ra = Wait(a), rb = Wait(b);
  INFO(blocked.out, other_n.out, same_shard.out, ra.out, ra.err, rb.out, rb.err);
  CHECK(locked(blocked));
  CHECK(locked(other_n));
  CHECK(locked(same_shard));
  // Neither shard was kept out by the other: both were stopped mid-run.
  CHECK(ra.out.find("is locked") == std::string::npos);
  CHECK(rb.out.find("is locked") == std::string::npos);
  CHECK(ra.exit_code == 1);
  CHECK(rb.exit_code == 1);
}

TEST_CASE("--shards N takes the index from JOB_COMPLETION_INDEX; a sharded run needs a run group") {
  Side s;
  BuildFirst(s);
  RunOutput r = RunHaSync(Args(s, {"--shards", "2", "--run-group", "job-uid"}), {"JOB_COMPLETION_INDEX=1"});
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  CHECK(Exists(s.log() + "/state-test.shard-1-of-2.hss"));
  const auto rows = Iterations(s.log());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].index == 1);
  CHECK(rows[0].group == "job-uid");
  CHECK(RunHaSync(Args(s, {"--shards", "2", "--run-group", "j"}), {"JOB_COMPLETION_INDEX=2"}).exit_code == 64);
  CHECK(RunHaSync(Args(s, {"--shards", "2", "--run-group", "j"})).exit_code == 64);
  CHECK(RunHaSync(Args(s, {"--shard", "0/2"})).exit_code == 64);
  RunOutput env_group = RunHaSync(Args(s, {"--shard", "0/2"}), {"HA_SYNC_RUN_GROUP=from-env"});
  CHECK(env_group.exit_code == 0);
  CHECK(Iterations(s.log()).back().group == "from-env");
}

}  // namespace ha_sync::test
