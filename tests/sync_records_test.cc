// Every message true: each per-file line names its file, each path gets one
// line, and what the console says about a run is what the audit stores.
#include <doctest/doctest.h>

#include <sstream>

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

}  // namespace ha_sync::test
