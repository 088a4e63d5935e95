// flush_bench: how fast an opslog is stored in the audit database.
//
//   flush_bench [--rows N] [--dsn DSN] [--dir DIR] [--runs N]
//
// Writes an opslog of N operation rows (default 1,000,000) shaped like a
// photo-tree run (paths ~45 bytes, sizes, MD5s, a few failures) with the
// real OpslogWriter, then stores it with the real FlushOpslog (one
// transaction, batched multi-row INSERTs) and reports rows/s for both.
// DSN: --dsn, else HA_SYNC_TEST_MYSQL_DSN (tests/mariadb_server.sh run sets
// it), else SQLite in DIR. Each run uses a fresh database on MySQL (dropped
// afterwards) or a fresh SQLite file. See perf/README.md.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit/dsn.h"
#include "audit/opslog_flush.h"
#include "audit/opslog_writer.h"

using namespace ha_sync;
using namespace ha_sync::audit;

namespace {

double CpuSeconds() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "flush_bench: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000;
  int runs = 1;
  std::string dsn_text, dir = "/tmp";
  if (const char* env = std::getenv("HA_SYNC_TEST_MYSQL_DSN")) dsn_text = env;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Fail("usage: flush_bench [--rows N] [--dsn DSN] [--dir DIR] [--runs N]");
    if (arg == "--rows") rows = std::atoll(argv[++i]);
    else if (arg == "--dsn") dsn_text = argv[++i];
    else if (arg == "--dir") dir = argv[++i];
    else if (arg == "--runs") runs = std::atoi(argv[++i]);
    else return Fail("unknown argument '" + arg + "'");
  }
  std::string work = dir + "/flush-bench.XXXXXX";
  if (::mkdtemp(work.data()) == nullptr) return Fail("mkdtemp in " + dir + " failed");

  for (int run = 0; run < runs; ++run) {
    // A fresh database per run.
    Dsn dsn;
    std::string fresh_db;
    if (dsn_text.empty()) {
      auto parsed = ParseDsn("sqlite://" + work + "/bench-" + std::to_string(run) + ".db", work);
      dsn = *parsed;
    } else {
      auto parsed = ParseDsn(dsn_text, work);
      if (!parsed.ok()) return Fail(parsed.status().message());
      dsn = *parsed;
      if (dsn.kind == Dsn::Kind::kMySql) {
        auto conn = OpenSqlConnection(dsn);
        if (!conn.ok()) return Fail(conn.status().message());
        fresh_db = dsn.database + "_bench" + std::to_string(::getpid()) + "_" + std::to_string(run);
        if (Status s = (*conn)->Exec("CREATE DATABASE `" + fresh_db + "`"); !s.ok()) {
          return Fail(s.message());
        }
        dsn.database = fresh_db;
      }
    }

    RunHeader h;
    char id[33];
    std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(::getpid()),
                  static_cast<unsigned long long>(run + 1));
    h.run_id = id;
    h.pair = "photos";
    h.direction = "dell-to-hp";
    h.src = "/mnt/dell/photos";
    h.dest = "/mnt/hp/photos";
    h.started_at_ms = NowMs();

    auto start = std::chrono::steady_clock::now();
    auto writer = OpslogWriter::Create(work, h);
    if (!writer.ok()) return Fail(writer.status().message());
    RunCounts counts;
    for (int64_t i = 0; i < rows; ++i) {
      OpRecord op;
      char path[96];
      std::snprintf(path, sizeof path, "%04lld/%02lld/%02lld/IMG_%08lld.jpg",
                    static_cast<long long>(2000 + i % 25), static_cast<long long>(1 + i % 12),
                    static_cast<long long>(1 + i % 28), static_cast<long long>(i));
      op.filepath = path;
      op.operation = i % 10 == 0 ? OpKind::kUpdate : (i % 50 == 1 ? OpKind::kDelete : OpKind::kCreate);
      op.started_at_ms = h.started_at_ms + i / 100;
      op.ended_at_ms = op.started_at_ms + 3;
      if (op.operation != OpKind::kCreate) op.size_before = 100000 + i % 9000;
      if (op.operation != OpKind::kDelete) {
        op.size_after = 200000 + i % 7000;
        op.md5_after = "9e107d9d372bb6826bd81d3542a419d6";
        op.bytes_transferred = *op.size_after;
      }
      if (i % 1000 == 999) {
        op.status = OpStatus::kFail;
        op.error_message = "open '" + op.filepath + "': Permission denied";
      }
      counts.Add(op);
      if (Status s = (*writer)->AppendOp(op); !s.ok()) return Fail(s.message());
    }
    RunFooter footer;
    footer.status = RunStatus::kPartialFailure;
    footer.ended_at_ms = NowMs();
    footer.counts = counts;
    if (Status s = (*writer)->Finish(footer); !s.ok()) return Fail(s.message());
    const double write_s = Seconds(start);
    const std::string path = (*writer)->path();
    struct stat st;
    ::stat(path.c_str(), &st);

    auto store = AuditStore::Open(dsn);
    if (!store.ok()) return Fail(store.status().message());
    start = std::chrono::steady_clock::now();
    const double cpu0 = CpuSeconds();
    auto flushed = FlushOpslog(store->get(), path);
    const double flush_s = Seconds(start);
    const double flush_cpu = CpuSeconds() - cpu0;
    if (!flushed.ok()) return Fail(flushed.status().message());
    if (flushed->rows != rows) return Fail("stored " + std::to_string(flushed->rows) + " rows");

    std::printf(
        "run %d: %s, %lld rows (opslog %.0f MB): opslog written in %.2f s (%.0f rows/s), "
        "stored in %.2f s (%.0f rows/s, batches of %zu; client CPU %.2f s)\n",
        run + 1, dsn.kind == Dsn::Kind::kMySql ? "mysql" : "sqlite", static_cast<long long>(rows),
        static_cast<double>(st.st_size) / 1e6, write_s, static_cast<double>(rows) / write_s,
        flush_s, static_cast<double>(rows) / flush_s, (*store)->batch_rows(), flush_cpu);
    std::fflush(stdout);
    if (!fresh_db.empty()) (void)(*store)->connection()->Exec("DROP DATABASE `" + fresh_db + "`");
  }
  const std::string rm = "rm -rf '" + work + "'";
  return std::system(rm.c_str()) == 0 ? 0 : 1;
}
