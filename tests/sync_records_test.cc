// Every message true: each per-file line names its file, each path gets one
// line, and what the console says about a run is what the audit stores.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <thread>

#include "sync_harness.h"

namespace ha_sync::test {

namespace {
constexpr int64_t kT0 = 1'700'000'000 * kSec;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// The counts of the console's summary line.
bool SummaryCounts(const std::string& out, RunCounts* c) {
  static const std::regex re(
      "created ([0-9]+), updated ([0-9]+), deleted ([0-9]+), skipped ([0-9]+), failed ([0-9]+)");
  std::smatch m;
  if (!std::regex_search(out, m, re)) return false;
  c->created = std::stoll(m[1]);
  c->updated = std::stoll(m[2]);
  c->deleted = std::stoll(m[3]);
  c->skipped = std::stoll(m[4]);
  c->failed = std::stoll(m[5]);
  return true;
}

}  // namespace

TEST_CASE("a conflict's line on stderr names its file, escaped") {
  TempDir t;
  WriteFile(t / "src/a.txt", "abc", kT0);
  WriteFile(t / "dest/a.txt", "ab", kT0);
  WriteFile(t / "src/we\nird.txt", "xyz", kT0);
  WriteFile(t / "dest/we\nird.txt", "x", kT0);
  RunOutput r = RunHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--verbose"}));
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("ha-sync: update 'a.txt' failed: conflict: equal mtime but size differs (source 3 "
                   "bytes, destination 2 bytes)") != std::string::npos);
  CHECK(r.err.find("ha-sync: update 'we\\nird.txt' failed: conflict: ") != std::string::npos);
  int failure_lines = 0;
  for (const std::string& line : Lines(r.err)) {
    if (line.find(" failed: ") == std::string::npos) continue;
    ++failure_lines;
    CHECK(line.find("'") < line.find(" failed: "));  // the path comes before the reason
  }
  CHECK(failure_lines == 2);
}

TEST_CASE("a directory created whose source cannot be listed gets one line: its failed create") {
  if (::geteuid() != 0) return;  // needs to drop to another user (CI runs as root)
  TempDir t;
  WriteFile(t / "src/locked/inside", "root only", kT0);
  ::chmod((t / "src/locked").c_str(), 0700);  // root-owned: unreadable for nobody
  WriteFile(t / "src/open/f", "everyone", kT0);
  MakeDirs(t / "dest");
  MakeDirs(t / "log");
  for (const char* d : {"src", "src/open", "src/open/f", "dest", "log"}) {
    REQUIRE(::chown((t / d).c_str(), 65534, 65534) == 0);
  }
  RunOutput r = RunHaSyncAs(65534, SyncArgs(t / "src", t / "dest", t / "log", {"--verbose"}));
  INFO(r.out, r.err);
  CHECK(r.exit_code == 2);
  int lines = 0;
  for (const std::string& line : Lines(r.out + r.err)) {
    if (line.find("locked/") != std::string::npos) ++lines;
  }
  CHECK(lines == 1);
  CHECK(r.err.find("ha-sync: create 'locked/' failed: ") != std::string::npos);
  CHECK(r.err.find("the directory was created empty") != std::string::npos);
  CHECK(r.out.find("open/") != std::string::npos);  // the readable one: its create line
  int records = 0;
  for (const auto& op : ReadOps(t / "log")) {
    if (op.filepath != "locked/") continue;
    ++records;
    CHECK(op.status == OpStatus::kFail);
    CHECK(op.operation == OpKind::kCreate);
  }
  CHECK(records == 1);
  CHECK(Exists(t / "dest/open/f"));
}

TEST_CASE("SIGTERM: the console's counts are the stored ones; cancelled copies are recorded as such") {
  TempDir t;
  const std::string big(8 << 20, 'N');  // 8 blocks of 1 MiB, 150 ms each
  for (int i = 0; i < 6; ++i) WriteFile(t / ("src/big" + std::to_string(i)), big, kT0);
  MakeDirs(t / "dest");
  Running run = StartHaSync(SyncArgs(t / "src", t / "dest", t / "log", {"--workers", "3"}),
                            {"HA_SYNC_TEST_BLOCK_DELAY_MS=150"});
  REQUIRE(WaitForTempData(t / "dest"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the other copies start too
  ::kill(run.pid, SIGTERM);
  RunOutput r = Wait(run);
  INFO(r.out, r.err);
  CHECK(r.exit_code == 1);
  CHECK(TempFilesUnder(t / "dest").empty());

  RunCounts console;
  REQUIRE(SummaryCounts(r.out, &console));
  const RunFooter stored = LastFooter(t / "log");  // the database row: the opslog was stored
  CHECK(stored.status == RunStatus::kFailed);
  CHECK(stored.counts.created == console.created);
  CHECK(stored.counts.updated == console.updated);
  CHECK(stored.counts.deleted == console.deleted);
  CHECK(stored.counts.skipped == console.skipped);
  CHECK(stored.counts.failed == console.failed);

  int cancelled = 0, failed_rows = 0;
  for (const auto& op : ReadOps(t / "log")) {
    if (op.status != OpStatus::kFail) continue;
    ++failed_rows;
    REQUIRE(op.error_message);
    CHECK(op.error_message->find("killed") == std::string::npos);
    if (op.error_message->rfind("cancelled: the run was stopped before this copy finished", 0) == 0) {
      ++cancelled;
      CHECK_FALSE(Exists(t / ("dest/" + op.filepath)));
    }
  }
  CHECK(cancelled >= 1);
  CHECK(cancelled == failed_rows);
  CHECK(failed_rows == console.failed);
}

}  // namespace ha_sync::test
