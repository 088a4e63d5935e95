// `ha-sync --bench` end to end: the built binary on real trees. It measures
// with the io engine(s) the environment selects, changes nothing in either
// root (contents, mtimes, the dest root's times), leaves no scratch folder,
// removes one left by a killed bench, and says what failed with exit 2.
#include <doctest/doctest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <string>

#include "sync_harness.h"

namespace ha_sync::test {

namespace {

constexpr int64_t kT0 = 1'600'000'000 * kSec;

// 2 dirs x 10 files, one 3 MiB file: 2 + 20 + 1 = 23 entries.
void MakeSource(const TempDir& t) {
  for (int d = 0; d < 2; ++d) {
    for (int f = 0; f < 10; ++f) {
      WriteFile(t / ("src/d" + std::to_string(d) + "/f" + std::to_string(f)), std::string(100 + f, 'a' + f),
                kT0 + f * kSec);
    }
    SetMtime(t / ("src/d" + std::to_string(d)), kT0);
  }
  WriteFile(t / "src/big", std::string(3 << 20, 'b'), kT0);
  WriteFile(t / "dest/existing", "keep me", kT0);
}

std::string Engine() {
  const char* e = std::getenv("HA_SYNC_IO_ENGINE");
  return e == nullptr ? "auto" : e;
}

}  // namespace

TEST_CASE("bench: measures both roots, changes nothing, leaves no scratch, JSON matches the table") {
  TempDir t;
  MakeSource(t);
  const auto src_before = Describe(t / "src");
  const auto dest_before = Describe(t / "dest");
  const int64_t dest_root_mtime = MtimeNs(t / "dest");
  RunOutput r = RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "6",
                           "--bench-json", t / "bench.json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("recommendation:") != std::string::npos);
  CHECK(r.err.find("ha-sync: bench: scan src") != std::string::npos);  // progress, one line per phase
  CHECK(Describe(t / "src") == src_before);
  CHECK(Describe(t / "dest") == dest_before);
  CHECK(MtimeNs(t / "dest") == dest_root_mtime);

  const boost::json::value v = boost::json::parse(ReadFile(t / "bench.json"));
  int scans = 0, reads = 0, copies = 0, md5 = 0;
  for (const auto& row : v.at("measurements").as_array()) {
    const std::string phase(row.at("phase").as_string());
    const std::string engine(row.at("engine").as_string());
    CAPTURE(phase);
    CHECK_FALSE(row.as_object().contains("error"));
    if (Engine() != "auto" && phase != "md5" && phase != "metadata" && phase != "scan") CHECK(engine == Engine());
    if (phase == "scan") {
      ++scans;
      CHECK(engine == "");  // one walk per root, as a sync's (the same for both engines)
      // A tree this small is walked completely in any bound.
      CHECK(row.at("complete").as_bool());
      CHECK(row.at("count").to_number<int64_t>() == (row.at("root").as_string() == "src" ? 23 : 1));
    }
    if (phase == "read") {
      ++reads;
      // The sample is the largest files, here all of them: every byte read once.
      CHECK(row.at("bytes").to_number<int64_t>() == (3 << 20) + 2 * (100 + 101 + 102 + 103 + 104 + 105 + 106 + 107 + 108 + 109));
    }
    if (phase == "copy") {
      ++copies;
      // Every source file copied once by the engine's copier into the
      // scratch folder (and removed there: dest is unchanged, see above).
      CHECK(row.at("count").to_number<int64_t>() == 21);
      CHECK(row.at("bytes").to_number<int64_t>() == (3 << 20) + 2 * (100 + 101 + 102 + 103 + 104 + 105 + 106 + 107 + 108 + 109));
      CHECK(row.at("complete").as_bool());
    }
    if (phase == "md5") ++md5;
    CHECK(row.at("rate").to_number<double>() > 0);
  }
  const int engines = Engine() == "auto" ? (reads == 2 ? 2 : 1) : 1;
  CHECK(scans == 2);
  CHECK(reads == engines);
  CHECK(copies == engines);
  CHECK(md5 >= 1);
  const auto& rec = v.at("recommendation");
  CHECK(rec.at("workers").to_number<int64_t>() >= 4);
  CHECK(rec.at("block_size").to_number<int64_t>() >= (256 << 10));
  CHECK(r.out.find("--workers " + std::to_string(rec.at("workers").to_number<int64_t>())) != std::string::npos);
}

TEST_CASE("bench: --bench-json - prints JSON only; no --pair needed") {
  TempDir t;
  MakeSource(t);
  RunOutput r = RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "3",
                           "--bench-json", "-"});
  REQUIRE(r.exit_code == 0);
  const boost::json::value v = boost::json::parse(r.out);
  CHECK(v.at("src").as_string() == t / "src");
  CHECK(v.at("budget_seconds").to_number<double>() == 3);
}

TEST_CASE("bench: a scratch folder left by a killed bench on this host is removed; others are kept") {
  TempDir t;
  MakeSource(t);
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  const std::string dead = std::string(".ha-sync-bench-") + host + "-2147483646";  // no such pid
  const std::string alive = std::string(".ha-sync-bench-") + host + "-" + std::to_string(::getpid());
  WriteFile(t / ("dest/" + dead + "/u0-3"), "partial");
  WriteFile(t / ("dest/" + alive + "/u0-1"), "another bench's");
  RunOutput r = RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "3"});
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Exists(t / ("dest/" + dead)));
  CHECK(Exists(t / ("dest/" + alive + "/u0-1")));
  CHECK(r.out.find("left behind by an interrupted bench") != std::string::npos);
}

TEST_CASE("bench: a read-only dest is named in the copy rows and exits 2; the reads still run") {
  TempDir t;
  MakeSource(t);
  const bool root = ::geteuid() == 0;
  if (root) {
    REQUIRE(::mount("tmpfs", (t / "dest").c_str(), "tmpfs", MS_RDONLY, "size=1m") == 0);
  } else {
    REQUIRE(::chmod((t / "dest").c_str(), 0555) == 0);
  }
  RunOutput r = RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "3",
                           "--bench-json", t / "bench.json"});
  if (root) {
    ::umount2((t / "dest").c_str(), MNT_DETACH);
  } else {
    ::chmod((t / "dest").c_str(), 0755);
  }
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("error: cannot write under dest") != std::string::npos);
  const boost::json::value v = boost::json::parse(ReadFile(t / "bench.json"));
  bool read_ok = false;
  for (const auto& row : v.at("measurements").as_array()) {
    if (row.at("phase").as_string() == "read") read_ok = !row.as_object().contains("error");
  }
  CHECK(read_ok);
}

TEST_CASE("bench: bad input is a usage error") {
  TempDir t;
  MakeSource(t);
  CHECK(RunHaSync({"--bench", "--dest", t / "dest"}).exit_code == 64);
  CHECK(RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "0"}).exit_code == 64);
  CHECK(RunHaSync({"--bench", "--src", t / "src", "--dest", t / "dest", "--bench-seconds", "x"}).exit_code == 64);
  RunOutput r = RunHaSync({"--src", t / "src", "--dest", t / "dest", "--pair", "p", "--bench-json", "-"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("go with --bench") != std::string::npos);
  CHECK(RunHaSync({"--bench", "--src", t / "src", "--dest", t / "src/d0"}).exit_code == 64);
  r = RunHaSync({"--bench", "--src", t / "missing", "--dest", t / "dest"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("missing") != std::string::npos);
}

}  // namespace ha_sync::test
