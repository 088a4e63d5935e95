#include "http/dashboard_seed.h"

#include <unistd.h>

#include <cstdio>

#include "audit/audit_store.h"

namespace ha_sync::http::testing {

namespace {

// Unique across processes that seed the same store (time, pid, counter).
std::string NextRunId() {
  static unsigned counter = 0;
  char buf[40];
  std::snprintf(buf, sizeof buf, "5eed%012llx%08x%08x",
                static_cast<unsigned long long>(NowMs()) & 0xffffffffffffULL,
                static_cast<unsigned>(::getpid()), ++counter);
  return buf;
}

constexpr int64_t kMin = 60 * 1000;

}  // namespace

OpRecord Op(OpKind kind, const std::string& path, int64_t size, bool ok, const std::string& error) {
  OpRecord op;
  op.operation = kind;
  op.filepath = path;
  if (kind == OpKind::kDelete) {
    op.size_before = size;
  } else {
    if (kind == OpKind::kUpdate) op.size_before = size / 2;
    op.size_after = size;
    if (ok) {
      op.md5_after = "0123456789abcdef0123456789abcdef";
      op.bytes_transferred = size;
    }
  }
  op.status = ok ? OpStatus::kSuccess : OpStatus::kFail;
  if (!error.empty()) op.error_message = error;
  return op;
}

SeededRun MakeRun(const std::string& pair, const std::string& direction, bool dry_run,
                  int64_t started_ms, double seconds, std::vector<OpRecord> ops) {
  SeededRun run;
  run.header.run_id = NextRunId();
  run.header.pair = pair;
  run.header.direction = direction;
  run.header.src = "/mnt/" + direction.substr(0, direction.find('-')) + "/" + pair;
  run.header.dest = "/mnt/" + direction.substr(direction.rfind('-') + 1) + "/" + pair;
  run.header.started_at_ms = started_ms;
  run.header.dry_run = dry_run;
  const int64_t ended = started_ms + static_cast<int64_t>(seconds * 1000);
  int64_t t = started_ms;
  for (OpRecord& op : ops) {
    op.dry_run = dry_run;
    if (dry_run) op.bytes_transferred = 0, op.md5_after.reset();
    op.started_at_ms = t;
    op.ended_at_ms = t;
    if (t < ended) ++t;
    run.footer.counts.Add(op);
  }
  run.ops = std::move(ops);
  run.footer.ended_at_ms = ended;
  run.footer.status = run.footer.counts.failed > 0 ? RunStatus::kPartialFailure : RunStatus::kSuccess;
  if (run.footer.counts.failed > 0) {
    run.footer.error_message = std::to_string(run.footer.counts.failed) + " operation(s) failed";
  }
  return run;
}

namespace {

Status WriteRunTo(audit::AuditStore* store, const SeededRun& run) {
  audit::AuditStore::RunWriter writer(store);
  bool already = false;
  if (Status s = writer.Start(run.header, &already); !s.ok()) return s;
  if (already) return Status::Error("run " + run.header.run_id + " already stored");
  for (const OpRecord& op : run.ops) {
    if (Status s = writer.Add(op); !s.ok()) return s;
  }
  return writer.Finish(run.footer);
}

}  // namespace

Status WriteRun(const audit::Dsn& dsn, const SeededRun& run) {
  auto store = audit::AuditStore::Open(dsn);
  if (!store.ok()) return store.status();
  return WriteRunTo(store->get(), run);
}

Status WriteRunning(const audit::Dsn& dsn, const RunHeader& header) {
  auto store = audit::AuditStore::Open(dsn);
  if (!store.ok()) return store.status();
  return (*store)->InsertRunning(header);
}

Status SeedStandard(const audit::Dsn& dsn, int64_t now) {
  std::vector<SeededRun> runs;
  // media: history for the chart first (oldest first), then the latest runs.
  for (int i = 8; i >= 1; --i) {
    std::vector<OpRecord> ops;
    for (int k = 0; k < i % 4 + 1; ++k) {
      ops.push_back(Op(OpKind::kCreate, "history/" + std::to_string(i) + "-" + std::to_string(k) + ".bin",
                       int64_t{250000} * (i + k)));
    }
    runs.push_back(MakeRun("media", i % 2 ? "dell-to-hp" : "hp-to-dell", false,
                           now - (15 + 15 * i) * kMin - 30000, 10.0 + 3 * i, ops));
  }
  {
    std::vector<OpRecord> ops;
    ops.push_back(Op(OpKind::kCreate, kXssName, 1000));
    ops.push_back(Op(OpKind::kCreate, kConflictCopy, 4000));
    for (int k = 0; k < 10; ++k) {
      ops.push_back(Op(OpKind::kCreate, "films/part-" + std::to_string(k) + ".mkv", 400000));
    }
    for (int k = 0; k < 3; ++k) ops.push_back(Op(OpKind::kUpdate, "docs/note-" + std::to_string(k) + ".txt", 0));
    ops.push_back(Op(OpKind::kDelete, "old/gone.txt", 77));
    // Make the run's bytes exactly 5,000,000 (1000 + 4000 + 1,395,000 + 9 * 400,000).
    ops[2].size_after = 995000 + 400000;
    ops[2].bytes_transferred = 995000 + 400000;
    runs.push_back(MakeRun("media", "dell-to-hp", false, now - 12 * kMin - 40000, 40, ops));
    // Its clock probe: the servers' mtime clocks 1.25 s apart, microsecond mtimes.
    runs.back().footer.clock_skew_ns = 1'250'000'000;
    runs.back().footer.mtime_precision_ns = 1000;
  }
  runs.push_back(MakeRun("media", "dell-to-hp", true, now - 3 * kMin - 2000, 2,
                         {Op(OpKind::kCreate, "new/a.jpg", 10), Op(OpKind::kCreate, "new/b.jpg", 20),
                          Op(OpKind::kCreate, "new/c.jpg", 30), Op(OpKind::kCreate, "new/d.jpg", 40)}));
  runs.push_back(MakeRun("media", "hp-to-dell", false, now - 5 * kMin - 3000, 3,
                         {Op(OpKind::kCreate, "x/1", 5), Op(OpKind::kCreate, "x/2", 6)}));
  // photos: partly failed.
  {
    std::vector<OpRecord> ops;
    for (int k = 0; k < 5; ++k) ops.push_back(Op(OpKind::kCreate, "2026/img_" + std::to_string(k) + ".jpg", 2000));
    ops.push_back(Op(OpKind::kCreate, kNonUtf8Name, 300, false, "open 'raw/\\xff\\xfe-bytes.jpg': Permission denied"));
    ops.push_back(Op(OpKind::kUpdate, "2026/locked.jpg", 900, false, kXssError));
    runs.push_back(MakeRun("photos", "dell-to-hp", false, now - 20 * kMin - 5000, 5, ops));
  }
  runs.push_back(MakeRun("photos", "hp-to-dell", false, now - 6 * kMin - 1000, 1, {}));
  // owncloud: stale.
  runs.push_back(MakeRun("owncloud", "dell-to-hp", false, now - 180 * kMin - 60000, 60,
                         {Op(OpKind::kUpdate, "u/file.odt", 100)}));
  // ai: finished earlier, running now.
  runs.push_back(MakeRun("ai", "dell-to-hp", false, now - 30 * kMin - 10000, 10, {Op(OpKind::kCreate, "m.bin", 1)}));
  // games: dry-runs only.
  runs.push_back(MakeRun("games", "dell-to-hp", true, now - 8 * kMin - 1000, 1, {Op(OpKind::kCreate, "g/save.dat", 64)}));
  // infra: the run as a whole failed.
  {
    SeededRun failed = MakeRun("infra", "dell-to-hp", false, now - 9 * kMin - 500, 0.5, {});
    failed.footer.status = RunStatus::kFailed;
    failed.footer.error_message = "refusing to run: marker '.ha-sync-marker' is missing in '/mnt/dell/infra' (is the share mounted?)";
    runs.push_back(failed);
  }
  auto store = audit::AuditStore::Open(dsn);
  if (!store.ok()) return store.status();
  for (const SeededRun& r : runs) {
    if (Status s = WriteRunTo(store->get(), r); !s.ok()) return s;
  }
  SeededRun running = MakeRun("ai", "dell-to-hp", false, now - 1 * kMin, 0, {});
  return (*store)->InsertRunning(running.header);
}

}  // namespace ha_sync::http::testing
