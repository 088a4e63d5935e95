// The advice of --bench follows from its measurements, and the JSON carries
// every row: Recommend() on hand-made rows, FormatJson() parsed back.
#include "bench/bench_report.h"

#include <doctest/doctest.h>

#include <boost/json.hpp>

namespace ha_sync::bench {

namespace {

Measurement Row(const std::string& phase, const std::string& engine, int64_t param, double rate,
                const std::string& root = "dest") {
  Measurement m;
  m.phase = phase;
  m.engine = engine;
  m.root = root;
  m.param = param;
  m.seconds = 2;
  if (phase == "scan" || phase == "metadata") {
    m.count = static_cast<int64_t>(rate * 2);
  } else {
    m.bytes = static_cast<int64_t>(rate * 2e6);
    m.count = 1;
  }
  return m;
}

}  // namespace

TEST_CASE("rates: entries or operations per second, MB/s for data") {
  CHECK(Row("scan", "", 8, 5000, "src").Rate() == doctest::Approx(5000));
  CHECK(Row("copy", "threads", 4, 80).Unit() == "MB/s");
  CHECK(Row("read", "uring", 4, 120).Rate() == doctest::Approx(120));
  CHECK(Row("metadata", "threads", 16, 800).Unit() == "ops/s");
  CHECK(Row("md5", "", 2, 600).Unit() == "MB/s");
}

TEST_CASE("workers: the fewest in flight within 10% of the best metadata rate, at least 4") {
  // Like NFS: round trips overlap until the server saturates around 16.
  std::vector<Measurement> rows = {Row("metadata", "threads", 1, 300), Row("metadata", "threads", 4, 1100),
                                   Row("metadata", "threads", 16, 3800), Row("metadata", "threads", 64, 4000)};
  CHECK(Recommend(rows).workers == 16);
  // Like a local disk on few cores: concurrency does not help.
  rows = {Row("metadata", "threads", 1, 9000), Row("metadata", "threads", 4, 9500),
          Row("metadata", "threads", 16, 9400), Row("metadata", "threads", 64, 8000)};
  CHECK(Recommend(rows).workers == 4);
  rows = {Row("metadata", "threads", 1, 9000)};
  CHECK(Recommend(rows).workers == 4);
  // Failed measurements give no advice.
  rows = {Row("metadata", "threads", 16, 3800)};
  rows[0].error = "cannot write under dest";
  CHECK(Recommend(rows).workers == 0);
}

TEST_CASE("block size: the smallest within 5% of the best read rate") {
  std::vector<Measurement> rows = {Row("read-block", "uring", 256 << 10, 400, "src"),
                                   Row("read-block", "uring", 1 << 20, 980, "src"),
                                   Row("read-block", "uring", 4 << 20, 1000, "src")};
  CHECK(Recommend(rows).block_size == (1 << 20));
  rows[1] = Row("read-block", "uring", 1 << 20, 900, "src");
  CHECK(Recommend(rows).block_size == (4 << 20));
  CHECK(Recommend({}).block_size == 0);
}

TEST_CASE("engine: io_uring only when it is clearly faster over like-for-like rows") {
  std::vector<Measurement> rows = {Row("copy", "threads", 4, 100), Row("copy", "uring", 4, 300),
                                   Row("read", "threads", 4, 100, "src"), Row("read", "uring", 4, 110, "src")};
  Recommendation rec = Recommend(rows);
  CHECK(rec.io_engine == "uring");
  REQUIRE(!rec.reasons.empty());
  CHECK(rec.reasons.back().find("uring") != std::string::npos);
  rows = {Row("copy", "threads", 4, 500), Row("copy", "uring", 4, 250)};
  CHECK(Recommend(rows).io_engine == "threads");
  rows = {Row("copy", "threads", 4, 500), Row("copy", "uring", 4, 510)};
  CHECK(Recommend(rows).io_engine == "auto");
  // Different roots are not compared with each other.
  rows = {Row("read", "threads", 4, 100, "src"), Row("read", "uring", 4, 900, "dest")};
  CHECK(Recommend(rows).io_engine == "auto");
  // The scan is the walk's, the same for both engines: no engine, no comparison.
  rows = {Row("scan", "", 8, 1000, "src"), Row("scan", "", 8, 9000, "src")};
  CHECK(Recommend(rows).io_engine == "auto");
}

TEST_CASE("JSON carries every row, errors and the advice; the table names errors") {
  BenchReport report;
  report.version = "9.9";
  report.src = "/srv/a";
  report.dest = "/srv/b";
  report.budget_seconds = 30;
  report.rows = {Row("scan", "", 8, 5000, "src"), Row("copy", "uring", 4, 0)};
  report.rows[1].error = "cannot write under dest: create: Read-only file system";
  report.rows[1].count = 0;
  report.recommendation = Recommend(report.rows);
  const boost::json::value v = boost::json::parse(FormatJson(report));
  const auto& rows = v.at("measurements").as_array();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].at("phase").as_string() == "scan");
  CHECK(rows[0].at("rate").to_number<double>() == doctest::Approx(5000));
  CHECK(rows[0].at("unit").as_string() == "entries/s");
  CHECK(rows[1].at("error").as_string() == "cannot write under dest: create: Read-only file system");
  CHECK(rows[1].at("rate").to_number<double>() == 0);
  CHECK(v.at("recommendation").at("io_engine").as_string() == "auto");
  CHECK(v.at("src").as_string() == "/srv/a");
  const std::string table = FormatTable(report);
  CHECK(table.find("error: cannot write under dest") != std::string::npos);
  CHECK(table.find("8 listers") != std::string::npos);  // the scan's setting: its listing threads
  CHECK(table.find("recommendation: --io-engine auto") != std::string::npos);
}

}  // namespace ha_sync::bench
