// sync_audit_bench: what auditing costs a sync.
//
//   sync_audit_bench [--files N] [--size BYTES] [--dir DIR] [--runs N] [--dsn DSN] [--workers N]
//
// Builds a source tree of N files (default 20,000 of 4 KiB, 100 per
// directory) in DIR, then copies it into a fresh destination with the real
// engine three ways, rotating the order each round:
//   none      the engine with a sink that only counts (no audit at all)
//   opslog    every operation appended to the JSONL opslog (what a run does
//             while it syncs)
//   opslog+db the same, then the opslog stored in the database (DSN: --dsn,
//             else HA_SYNC_TEST_MYSQL_DSN, else SQLite in DIR) and deleted
// and prints the median wall time and files/s of each. Small files on a fast
// file system make the audit's share as large as it gets. See perf/README.md.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit/opslog_flush.h"
#include "audit/opslog_writer.h"
#include "pipeline/engine.h"

using namespace ha_sync;

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "sync_audit_bench: %s\n", message.c_str());
  return 1;
}

class CountingSink : public pipeline::OpSink {
 public:
  void OnOperation(const OpRecord&) override { ops_.fetch_add(1); }
  void OnWarning(const std::string& m) override { std::fprintf(stderr, "warning: %s\n", m.c_str()); }
  std::atomic<int64_t> ops_{0};
};

class OpslogSink : public CountingSink {
 public:
  explicit OpslogSink(audit::OpslogWriter* w) : writer_(w) {}
  void OnIntent(const OpRecord& op) override { (void)writer_->AppendIntent(op); }
  void OnOperation(const OpRecord& op) override {
    (void)writer_->AppendOp(op);
    ops_.fetch_add(1);
  }

 private:
  audit::OpslogWriter* writer_;
};

bool Run(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

}  // namespace

int main(int argc, char** argv) {
  int64_t files = 20000, size = 4096, workers = 4;
  int runs = 3;
  std::string dir = "/tmp", dsn_text;
  if (const char* env = std::getenv("HA_SYNC_TEST_MYSQL_DSN")) dsn_text = env;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--files") files = std::atoll(value.c_str());
    else if (arg == "--size") size = std::atoll(value.c_str());
    else if (arg == "--dir") dir = value;
    else if (arg == "--runs") runs = std::atoi(value.c_str());
    else if (arg == "--dsn") dsn_text = value;
    else if (arg == "--workers") workers = std::atoll(value.c_str());
    else return Fail("unknown argument '" + arg + "'");
  }
  std::string work = dir + "/sync-audit-bench.XXXXXX";
  if (::mkdtemp(work.data()) == nullptr) return Fail("mkdtemp in " + dir + " failed");
  const std::string src = work + "/src", dest = work + "/dest", log = work + "/log";
  ::mkdir(src.c_str(), 0755);
  ::mkdir(log.c_str(), 0755);
  const std::string block(static_cast<size_t>(size), 'x');
  for (int64_t i = 0; i < files; ++i) {
    const std::string d = src + "/d" + std::to_string(i / 100);
    if (i % 100 == 0) ::mkdir(d.c_str(), 0755);
    FILE* f = std::fopen((d + "/f" + std::to_string(i)).c_str(), "wb");
    if (f == nullptr) return Fail("create source file");
    std::fwrite(block.data(), 1, block.size(), f);
    std::fclose(f);
  }
  Run("sync");

  auto dsn = audit::ParseDsn(dsn_text.empty() ? "sqlite://" + work + "/bench.db" : dsn_text, work);
  if (!dsn.ok()) return Fail(dsn.status().message());

  const std::vector<std::string> modes = {"none", "opslog", "opslog+db"};
  std::map<std::string, std::vector<double>> times;
  int run_no = 0;
  for (int r = 0; r < runs; ++r) {
    for (size_t k = 0; k < modes.size(); ++k) {
      const std::string& mode = modes[(k + static_cast<size_t>(r)) % modes.size()];
      if (!Run("rm -rf '" + dest + "' && mkdir '" + dest + "' && sync")) return Fail("reset dest");
      pipeline::EngineOptions eo;
      eo.src_root = src;
      eo.dest_root = dest;
      eo.workers = static_cast<size_t>(workers);
      std::atomic<bool> stop{false};
      RunHeader h;
      char id[33];
      std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(::getpid()),
                    static_cast<unsigned long long>(++run_no));
      h.run_id = id;
      h.pair = "bench";
      h.direction = "fwd";
      h.src = src;
      h.dest = dest;

      const auto start = std::chrono::steady_clock::now();
      int64_t ops = 0;
      if (mode == "none") {
        CountingSink sink;
        pipeline::Engine engine(eo, &sink, nullptr, &stop);
        if (auto res = engine.Run(); !res.fatal.ok()) return Fail(res.fatal.message());
        ops = sink.ops_.load();
      } else {
        h.started_at_ms = NowMs();
        auto writer = audit::OpslogWriter::Create(log, h);
        if (!writer.ok()) return Fail(writer.status().message());
        OpslogSink sink(writer->get());
        pipeline::Engine engine(eo, &sink, nullptr, &stop);
        auto res = engine.Run();
        if (!res.fatal.ok()) return Fail(res.fatal.message());
        RunFooter footer;
        footer.status = RunStatus::kSuccess;
        footer.ended_at_ms = NowMs();
        footer.counts = res.counts;
        if (Status s = (*writer)->Finish(footer); !s.ok()) return Fail(s.message());
        ops = sink.ops_.load();
        if (mode == "opslog+db") {
          auto store = audit::AuditStore::Open(*dsn);
          if (!store.ok()) return Fail(store.status().message());
          auto flushed = audit::FlushOpslog(store->get(), (*writer)->path());
          if (!flushed.ok()) return Fail(flushed.status().message());
        } else {
          ::unlink((*writer)->path().c_str());
        }
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      times[mode].push_back(secs);
      std::printf("round %d %-9s %lld ops in %.3f s\n", r + 1, mode.c_str(),
                  static_cast<long long>(ops), secs);
      std::fflush(stdout);
    }
  }
  std::printf("\n%lld files of %lld bytes, %lld workers, %s, median of %d:\n",
              static_cast<long long>(files), static_cast<long long>(size),
              static_cast<long long>(workers), dsn->Masked().c_str(), runs);
  const double base = [&] {
    auto v = times["none"];
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }();
  for (const std::string& mode : modes) {
    auto v = times[mode];
    std::sort(v.begin(), v.end());
    const double med = v[v.size() / 2];
    std::printf("  %-9s %7.3f s  %8.0f files/s  %+5.1f%%\n", mode.c_str(), med,
                static_cast<double>(files) / med, (med / base - 1) * 100);
  }
  Run("rm -rf '" + work + "'");
  return 0;
}
