// The store and the flush, in process, against every TestDatabase.
#include "audit/audit_store.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "audit/fault_points.h"
#include "audit/opslog_flush.h"
#include "audit/opslog_writer.h"
#include "audit/schema.h"
#include "support/test_databases.h"
#include "ha_sync/text.h"

namespace ha_sync::audit {
namespace {

using testing::ReadFileOrEmpty;
using testing::TempDir;
using testing::TestDatabase;
using testing::TestDatabases;
using testing::WriteFileOrDie;

int64_t QueryInt(SqlConnection* conn, const std::string& sql, const std::vector<SqlValue>& params = {}) {
  auto rows = conn->QueryAll(sql, params);
  REQUIRE_MESSAGE(rows.ok(), rows.status().message());
  REQUIRE(rows->size() == 1);
  int64_t n = -1;
  REQUIRE(GetInt(rows->at(0).at(0), &n));
  return n;
}

std::unique_ptr<AuditStore> OpenStore(const TestDatabase& db) {
  auto store = AuditStore::Open(db.dsn);
  REQUIRE_MESSAGE(store.ok(), store.status().message());
  return std::move(*store);
}

int g_run_counter = 0;

RunHeader Header(const std::string& pair, bool dry_run = false) {
  RunHeader h;
  char id[33];
  std::snprintf(id, sizeof id, "%08x%08x%016llx", static_cast<unsigned>(::getpid()),
                static_cast<unsigned>(++g_run_counter), 0xabcdefULL);
  h.run_id = id;
  h.pair = pair;
  h.direction = "dell-to-hp";
  h.src = "/mnt/dell/" + pair;
  h.dest = "/mnt/hp/" + pair;
  h.started_at_ms = 1764000000000 + g_run_counter * 1000;
  h.dry_run = dry_run;
  return h;
}

OpRecord Op(OpKind kind, const std::string& path, int64_t t, OpStatus status = OpStatus::kSuccess) {
  OpRecord op;
  op.operation = kind;
  op.filepath = path;
  op.started_at_ms = t;
  op.ended_at_ms = t + 5;
  op.status = status;
  return op;
}

// Writes an opslog with `ops`; with a footer unless `crashed`.
std::string WriteOpslog(const std::string& dir, const RunHeader& h, const std::vector<OpRecord>& ops,
                        bool crashed = false) {
  auto writer = OpslogWriter::Create(dir, h);
  REQUIRE_MESSAGE(writer.ok(), writer.status().message());
  RunCounts counts;
  for (const OpRecord& op : ops) {
    REQUIRE((*writer)->AppendOp(op).ok());
    counts.Add(op);
  }
  const std::string path = (*writer)->path();
  if (!crashed) {
    RunFooter f;
    f.status = counts.failed > 0 ? RunStatus::kPartialFailure : RunStatus::kSuccess;
    f.ended_at_ms = h.started_at_ms + 60000;
    f.counts = counts;
    f.counts.skipped = 17;
    if (counts.failed > 0) f.error_message = std::to_string(counts.failed) + " operation(s) failed";
    REQUIRE((*writer)->Finish(f).ok());
  }
  return path;
}

std::vector<OpRecord> ManyOps(int n, const std::string& prefix) {
  std::vector<OpRecord> ops;
  for (int i = 0; i < n; ++i) {
    OpRecord op = Op(OpKind::kCreate, prefix + std::to_string(i), 1764000000000 + i);
    op.size_after = i;
    op.bytes_transferred = i;
    ops.push_back(op);
  }
  return ops;
}

}  // namespace

TEST_CASE("a run's rows: counts, bytes, MD5, failures, paths; opslog deleted") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const RunHeader h = Header("photos");
    std::vector<OpRecord> ops;
    OpRecord c = Op(OpKind::kCreate, "2024/IMG_0001.jpg", h.started_at_ms + 10);
    c.size_after = 5;
    c.md5_after = "2c1743a391305fbf367df8e4f069f9f9";
    c.bytes_transferred = 5;
    ops.push_back(c);
    OpRecord u = Op(OpKind::kUpdate, "notes/\xC3\xA9t\xC3\xA9.txt", h.started_at_ms + 20);
    u.size_before = 3;
    u.size_after = 11;
    u.md5_before = "acbd18db4cc2f85cedef654fccc4a4d8";
    u.md5_after = "5eb63bbbe01eeed093cb22bb8f5acdc3";
    u.bytes_transferred = 11;
    ops.push_back(u);
    OpRecord d = Op(OpKind::kDelete, "old/\xff\xfe-latin1-\xe9.bin", h.started_at_ms + 30);
    d.size_before = 42;
    ops.push_back(d);
    OpRecord f = Op(OpKind::kUpdate, "busy.db", h.started_at_ms + 40, OpStatus::kFail);
    f.error_message = "conflict: equal mtime but size differs";
    ops.push_back(f);
    const std::string path = WriteOpslog(tmp.path(), h, ops);

    auto r = FlushOpslog(store.get(), path);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->outcome == FlushOutcome::kFlushed);
    CHECK(r->rows == 4);
    CHECK_FALSE(r->crashed);
    CHECK(::access(path.c_str(), F_OK) != 0);

    SqlConnection* conn = store->connection();
    auto it = conn->QueryAll(
        "SELECT id, sync_pair, direction, src, dest, started_at, ended_at, status, dry_run, "
        "files_created, files_updated, files_deleted, files_skipped, files_failed, "
        "total_bytes_transferred, error_message, run_id FROM sync_iterations");
    REQUIRE(it.ok());
    REQUIRE(it->size() == 1);
    const SqlRow& row = it->at(0);
    CHECK(std::get<std::string>(row[1]) == "photos");
    CHECK(std::get<std::string>(row[2]) == "dell-to-hp");
    CHECK(std::get<std::string>(row[3]) == "/mnt/dell/photos");
    CHECK(std::get<std::string>(row[5]) == FormatSqlTime(h.started_at_ms));
    CHECK(std::get<std::string>(row[6]) == FormatSqlTime(h.started_at_ms + 60000));
    CHECK(std::get<std::string>(row[7]) == "partial_failure");
    CHECK(std::get<int64_t>(row[8]) == 0);
    CHECK(std::get<int64_t>(row[9]) == 1);
    CHECK(std::get<int64_t>(row[10]) == 1);
    CHECK(std::get<int64_t>(row[11]) == 1);
    CHECK(std::get<int64_t>(row[12]) == 17);
    CHECK(std::get<int64_t>(row[13]) == 1);
    CHECK(std::get<int64_t>(row[14]) == 16);
    CHECK(std::get<std::string>(row[15]) == "1 operation(s) failed");
    CHECK(std::get<std::string>(row[16]) == h.run_id);

    auto op_rows = conn->QueryAll(
        "SELECT operation, filepath, size_before, size_after, md5_before, md5_after, status, "
        "error_message, dry_run, iteration_id FROM sync_operations ORDER BY id");
    REQUIRE(op_rows.ok());
    REQUIRE(op_rows->size() == 4);
    CHECK(std::get<std::string>((*op_rows)[0][0]) == "create");
    CHECK(std::get<std::string>((*op_rows)[0][5]) == "2c1743a391305fbf367df8e4f069f9f9");
    CHECK(std::get<int64_t>((*op_rows)[0][3]) == 5);
    CHECK(IsNull((*op_rows)[0][2]));
    CHECK(std::get<std::string>((*op_rows)[1][1]) == "notes/\xC3\xA9t\xC3\xA9.txt");
    CHECK(std::get<std::string>((*op_rows)[1][4]) == "acbd18db4cc2f85cedef654fccc4a4d8");
    // A non-UTF-8 name is stored as b64: and decodes back to the same bytes.
    const std::string stored = std::get<std::string>((*op_rows)[2][1]);
    CHECK(stored.rfind("b64:", 0) == 0);
    std::string decoded;
    REQUIRE(DecodePathFromText(stored, &decoded));
    CHECK(decoded == d.filepath);
    CHECK(std::get<int64_t>((*op_rows)[2][2]) == 42);
    CHECK(std::get<std::string>((*op_rows)[3][6]) == "fail");
    CHECK(std::get<std::string>((*op_rows)[3][7]) == "conflict: equal mtime but size differs");
    CHECK(std::get<int64_t>((*op_rows)[3][9]) == std::get<int64_t>(row[0]));
  }
}

TEST_CASE("batches: 2500 operations in multi-row inserts, one iteration") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    int batches = 0;
    SetFaultHook([&](const char* name) {
      if (std::string(name) == "flush.batch") ++batches;
    });
    const std::string path = WriteOpslog(tmp.path(), Header("media"), ManyOps(2500, "f/"));
    auto r = FlushOpslog(store.get(), path);
    SetFaultHook(nullptr);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->rows == 2500);
    CHECK(batches == 3);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == 2500);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(DISTINCT filepath) FROM sync_operations") == 2500);
    CHECK(QueryInt(store->connection(), "SELECT files_created FROM sync_iterations") == 2500);
  }
}

TEST_CASE("a footer-less opslog is a crashed run: stored as failed, once") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const RunHeader h = Header("owncloud");
    // As a live run does: the 'running' row first.
    REQUIRE(store->InsertRunning(h).ok());
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_iterations WHERE status = 'running'") == 1);
    std::vector<OpRecord> ops = ManyOps(3, "doc");
    ops.push_back(Op(OpKind::kDelete, "x", h.started_at_ms + 99, OpStatus::kFail));
    const std::string path = WriteOpslog(tmp.path(), h, ops, /*crashed=*/true);
    // A line cut short by the crash is not data.
    {
      std::string content = ReadFileOrEmpty(path);
      content += "{\"type\":\"op\",\"operation\":\"cre";
      WriteFileOrDie(path, content);
    }
    auto r = FlushOpslog(store.get(), path);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->outcome == FlushOutcome::kFlushed);
    CHECK(r->crashed);
    SqlConnection* conn = store->connection();
    auto rows = conn->QueryAll("SELECT status, error_message, files_created, files_failed, ended_at FROM sync_iterations");
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);  // the 'running' row became the final one
    CHECK(std::get<std::string>(rows->at(0)[0]) == "failed");
    CHECK(std::get<std::string>(rows->at(0)[1]).find("did not finish") != std::string::npos);
    CHECK(std::get<int64_t>(rows->at(0)[2]) == 3);
    CHECK(std::get<int64_t>(rows->at(0)[3]) == 1);
    CHECK_FALSE(IsNull(rows->at(0)[4]));
    CHECK(QueryInt(conn, "SELECT COUNT(*) FROM sync_operations") == 4);
  }
}

TEST_CASE("an intent without its op line is stored as an operation of unknown outcome") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const RunHeader h = Header("media");
    auto writer = OpslogWriter::Create(tmp.path(), h);
    REQUIRE(writer.ok());
    OpRecord done = Op(OpKind::kCreate, "done.mkv", h.started_at_ms + 1);
    done.size_after = 10;
    OpRecord killed = Op(OpKind::kUpdate, "half.mkv", h.started_at_ms + 2);
    killed.size_before = 7;
    REQUIRE((*writer)->AppendIntent(done).ok());
    REQUIRE((*writer)->AppendIntent(killed).ok());
    REQUIRE((*writer)->AppendOp(done).ok());
    const std::string path = (*writer)->path();
    writer->reset();  // killed: no footer
    auto r = FlushOpslog(store.get(), path);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->rows == 2);
    SqlConnection* conn = store->connection();
    auto rows = conn->QueryAll(
        "SELECT operation, status, size_before, error_message FROM sync_operations WHERE filepath = ?",
        {std::string("half.mkv")});
    REQUIRE(rows.ok());
    REQUIRE(rows->size() == 1);
    CHECK(std::get<std::string>(rows->at(0)[0]) == "update");
    CHECK(std::get<std::string>(rows->at(0)[1]) == "fail");
    CHECK(std::get<int64_t>(rows->at(0)[2]) == 7);
    CHECK(std::get<std::string>(rows->at(0)[3]).find("outcome is unknown") != std::string::npos);
    CHECK(QueryInt(conn, "SELECT COUNT(*) FROM sync_operations WHERE filepath = 'done.mkv'") == 1);
    CHECK(QueryInt(conn, "SELECT files_failed FROM sync_iterations") == 1);
    CHECK(QueryInt(conn, "SELECT files_created FROM sync_iterations") == 1);
  }
}

TEST_CASE("a flush after COMMIT but before unlink writes nothing again") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const std::string path = WriteOpslog(tmp.path(), Header("games"), ManyOps(10, "g"));
    const std::string copy = ReadFileOrEmpty(path);
    auto r = FlushOpslog(store.get(), path);
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kFlushed);
    WriteFileOrDie(path, copy);  // as if the unlink never happened
    r = FlushOpslog(store.get(), path);
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kAlreadyFlushed);
    CHECK(::access(path.c_str(), F_OK) != 0);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == 10);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_iterations") == 1);
  }
}

TEST_CASE("a live run's opslog is never flushed; header-less files are left alone") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const RunHeader h = Header("infra");
    auto writer = OpslogWriter::Create(tmp.path(), h);
    REQUIRE(writer.ok());
    REQUIRE((*writer)->AppendOp(Op(OpKind::kCreate, "a", h.started_at_ms)).ok());
    auto r = FlushOpslog(store.get(), (*writer)->path());
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kBusy);
    RunFooter f;
    f.status = RunStatus::kSuccess;
    f.ended_at_ms = h.started_at_ms + 1;
    REQUIRE((*writer)->Finish(f).ok());
    r = FlushOpslog(store.get(), (*writer)->path());
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kFlushed);
    r = FlushOpslog(store.get(), (*writer)->path());
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kGone);

    const std::string empty = tmp.path() + "/opslog-infra-x-2026-01-01T00:00:00.000Z.jsonl";
    WriteFileOrDie(empty, "");
    r = FlushOpslog(store.get(), empty);
    REQUIRE(r.ok());
    CHECK(r->outcome == FlushOutcome::kNoHeader);
    CHECK(::access(empty.c_str(), F_OK) == 0);
    ::unlink(empty.c_str());
  }
}

TEST_CASE("leftovers are chosen by the header's pair, oldest first") {
  TempDir tmp;
  RunHeader a = Header("media");
  RunHeader b = Header("media-2");  // "opslog-media-" is a prefix of its file name too
  RunHeader c = Header("media");
  c.direction = "2-fwd";            // file name starts "opslog-media-2-"
  const std::string pa = WriteOpslog(tmp.path(), a, {});
  WriteOpslog(tmp.path(), b, {});
  const std::string pc = WriteOpslog(tmp.path(), c, {});
  auto list = ListPairOpslogs(tmp.path(), "media");
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK(list->at(0) == pa);
  CHECK(list->at(1) == pc);
  list = ListPairOpslogs(tmp.path(), "media-2");
  REQUIRE(list.ok());
  CHECK(list->size() == 1);
}

TEST_CASE("two processes' flushers on one log directory: every file exactly once") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    {
      auto store = OpenStore(db);  // schema first
    }
    std::vector<std::string> files;
    int64_t expected = 0;
    for (int i = 0; i < 8; ++i) {
      const int n = 200 + i * 150;
      files.push_back(WriteOpslog(tmp.path(), Header(i % 2 ? "photos" : "media"),
                                  ManyOps(n, "p" + std::to_string(i) + "/")));
      expected += n;
    }
    std::atomic<int> flushed{0};
    std::atomic<bool> failed{false};
    auto worker = [&](bool reverse) {
      auto store = AuditStore::Open(db.dsn);
      if (!store.ok()) {
        failed = true;
        return;
      }
      for (size_t k = 0; k < files.size(); ++k) {
        const std::string& f = files[reverse ? files.size() - 1 - k : k];
        auto r = FlushOpslog(store->get(), f);
        if (!r.ok()) {
          failed = true;
          continue;
        }
        if (r->outcome == FlushOutcome::kFlushed) ++flushed;
      }
    };
    std::thread t1(worker, false), t2(worker, true), t3(worker, false);
    t1.join();
    t2.join();
    t3.join();
    CHECK_FALSE(failed.load());
    CHECK(flushed.load() == 8);
    auto store = OpenStore(db);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == expected);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_iterations") == 8);
    for (const auto& f : files) CHECK(::access(f.c_str(), F_OK) != 0);
  }
}

TEST_CASE("the database killed mid-flush: nothing half-written, the next flush is exact") {
  if (!testing::HaveMariaDbControl()) {
    MESSAGE("no MariaDB server control (HA_SYNC_TEST_MARIADB_CTL): skipped");
    return;
  }
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    if (db.dsn.kind != Dsn::Kind::kMySql) continue;
    auto store = OpenStore(db);
    const std::string path = WriteOpslog(tmp.path(), Header("ai"), ManyOps(3500, "m/"));
    int batches = 0;
    SetFaultHook([&](const char* name) {
      if (std::string(name) == "flush.batch" && ++batches == 2) REQUIRE(testing::MariaDbControl("kill"));
    });
    auto r = FlushOpslog(store.get(), path);
    SetFaultHook(nullptr);
    CHECK_FALSE(r.ok());
    CHECK(r.status().message().find(db.dsn.password) == std::string::npos);
    CHECK(::access(path.c_str(), F_OK) == 0);  // kept
    store.reset();
    REQUIRE(testing::MariaDbControl("start"));
    store = OpenStore(db);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == 0);
    r = FlushOpslog(store.get(), path);
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->outcome == FlushOutcome::kFlushed);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == 3500);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_iterations") == 1);
  }
}

TEST_CASE("dry-run lookups read dry-run rows only; plans compare as sets") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    auto none = store->LastSuccessfulDryRun("photos", "dell-to-hp");
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());

    std::vector<OpRecord> plan = {Op(OpKind::kCreate, "a", 1), Op(OpKind::kDelete, "b", 2)};
    plan[1].size_before = 9;
    for (auto& op : plan) op.dry_run = true;
    const RunHeader dry = Header("photos", true);
    REQUIRE(FlushOpslog(store.get(), WriteOpslog(tmp.path(), dry, plan)).ok());
    // A later production run of the same pair is not a dry-run.
    REQUIRE(FlushOpslog(store.get(), WriteOpslog(tmp.path(), Header("photos"), ManyOps(2, "z"))).ok());

    auto last = store->LastSuccessfulDryRun("photos", "dell-to-hp");
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    CHECK((*last)->started_at_ms == dry.started_at_ms);
    auto stored = store->PlanOf((*last)->id);
    REQUIRE(stored.ok());

    PlanDigest same;  // other order
    same.Add(plan[1]);
    same.Add(plan[0]);
    CHECK(same == *stored);
    PlanDigest resized;
    OpRecord b = plan[1];
    b.size_before = 10;
    resized.Add(plan[0]);
    resized.Add(b);
    CHECK(resized != *stored);
    PlanDigest fewer;
    fewer.Add(plan[0]);
    CHECK(fewer != *stored);
    CHECK(store->LastSuccessfulDryRun("photos", "hp-to-dell")->has_value() == false);
  }
}

TEST_CASE("prune: old operations, then old empty iterations; running rows stay") {
  TempDir tmp;
  TestDatabases dbs(tmp.path());
  for (const auto& db : dbs.all()) {
    CAPTURE(db.name);
    auto store = OpenStore(db);
    const int64_t day = 86400 * 1000;
    const int64_t now = 1764000000000;
    auto run_at = [&](int64_t t, int n, bool crash_running) {
      RunHeader h = Header("media");
      h.started_at_ms = t;
      std::vector<OpRecord> ops;
      for (int i = 0; i < n; ++i) ops.push_back(Op(OpKind::kCreate, "f" + std::to_string(i), t + i));
      if (crash_running) {
        REQUIRE(store->InsertRunning(h).ok());
        return;
      }
      REQUIRE(FlushOpslog(store.get(), WriteOpslog(tmp.path(), h, ops)).ok());
    };
    run_at(now - 40 * day, 25, false);  // old: pruned entirely
    run_at(now - 31 * day, 0, false);   // old, no operations: pruned
    run_at(now - 35 * day, 0, true);    // old but still 'running': kept
    run_at(now - 2 * day, 7, false);    // recent: kept
    auto pruned = store->Prune(now - 30 * day, /*batch=*/10);
    REQUIRE_MESSAGE(pruned.ok(), pruned.status().message());
    CHECK(pruned->operations_deleted == 25);
    CHECK(pruned->iterations_deleted == 2);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_operations") == 7);
    CHECK(QueryInt(store->connection(), "SELECT COUNT(*) FROM sync_iterations") == 2);
    // Idempotent.
    pruned = store->Prune(now - 30 * day);
    REQUIRE(pruned.ok());
    CHECK(pruned->operations_deleted == 0);
    CHECK(pruned->iterations_deleted == 0);
  }
}

TEST_CASE("stored filepaths fit the column, and cut ones stay unique and name their digest") {
  const std::string utf8_long(4000, 'a');
  CHECK(StoredFilepath(utf8_long) == utf8_long);
  std::string bytes(3500, 'b');
  bytes[0] = '\xff';
  const std::string stored = StoredFilepath(bytes);
  CHECK(stored.size() <= kMaxFilepathChars);
  const size_t mark = stored.rfind(kCutPathMark);
  REQUIRE(mark != std::string::npos);
  CHECK(stored.size() - mark == std::string(kCutPathMark).size() + 32);
  std::string decoded;
  REQUIRE(DecodePathFromText(stored.substr(0, mark), &decoded));
  CHECK(decoded == bytes.substr(0, decoded.size()));

  // Deep paths beyond 4096 bytes differing only at their end: two rows.
  std::string deep_a(5000, 'd'), deep_b(5000, 'd');
  deep_a += "/a";
  deep_b += "/b";
  CHECK(StoredFilepath(deep_a).size() == kMaxFilepathChars);
  CHECK(StoredFilepath(deep_a) != StoredFilepath(deep_b));
  CHECK(StoredFilepath(deep_a).rfind(std::string(4000, 'd'), 0) == 0);
  CHECK(FitColumn("abc\xC3\xA9z", 4) == "abc\xC3\xA9");
  CHECK(FitColumn("ab\xff", 10) == "ab\\xff");
}

}  // namespace ha_sync::audit
