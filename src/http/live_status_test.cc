#include "http/live_status.h"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "ha_sync/op_record.h"
#include "support/test_client.h"

namespace ha_sync::http {
namespace {

namespace json = boost::json;

void SetStage(Progress* p, Stage s) {
  p->stage_started_ms.store(NowMs());
  p->stage.store(static_cast<int>(s));
}

json::value Status(uint16_t port) {
  auto r = testing::Fetch(port, "/status");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  return json::parse(r.body);
}

RunHeader Run() {
  RunHeader run;
  run.run_id = "0123456789abcdef0123456789abcdef";
  run.pair = "media";
  run.direction = "dell-to-hp";
  run.src = "/mnt/dell/media";
  run.dest = "/mnt/hp/media";
  run.dry_run = false;
  run.started_at_ms = NowMs() - 5000;
  return run;
}

TEST_CASE("/status follows the engine's progress counters") {
  Progress p;
  ListenAddress addr{"127.0.0.1", 0};
  auto server = LiveStatusServer::Start(addr, Run(), &p);
  REQUIRE_MESSAGE(server.ok(), server.status().message());
  const uint16_t port = (*server)->port();

  json::value v = Status(port);
  CHECK(v.at("stage").as_string() == "starting");
  CHECK(v.at("run_id").as_string() == "0123456789abcdef0123456789abcdef");
  CHECK(v.at("pair").as_string() == "media");
  CHECK(v.at("direction").as_string() == "dell-to-hp");
  CHECK(v.at("dry_run").as_bool() == false);
  CHECK(v.at("elapsed_seconds").as_double() >= 5.0);
  CHECK(v.at("eta_seconds").is_null());
  CHECK(v.at("clock_skew_seconds").is_null());
  CHECK(v.at("operations").at("create").at("planned").as_int64() == 0);

  // Scanning: work found and some of it done; no ETA yet.
  SetStage(&p, Stage::kScanning);
  p.dirs_scanned = 12;
  p.entries_scanned = 345;
  p.done[static_cast<int>(OpKind::kCreate)] = 7;
  p.failed[static_cast<int>(OpKind::kCreate)] = 1;
  p.pending[static_cast<int>(OpKind::kCreate)] = 4;
  p.done[static_cast<int>(OpKind::kUpdate)] = 2;
  p.pending[static_cast<int>(OpKind::kDelete)] = 9;
  p.queued = 3;
  p.bytes_done = 7000000;
  p.bytes_pending = 3000000;
  p.clock_skew_ns = 1500000000;
  v = Status(port);
  CHECK(v.at("stage").as_string() == "scanning");
  CHECK(v.at("dirs_scanned").as_int64() == 12);
  CHECK(v.at("entries_scanned").as_int64() == 345);
  const json::value& create = v.at("operations").at("create");
  CHECK(create.at("planned").as_int64() == 12);
  CHECK(create.at("done").as_int64() == 7);
  CHECK(create.at("failed").as_int64() == 1);
  CHECK(create.at("pending").as_int64() == 4);
  CHECK(v.at("operations").at("update").at("planned").as_int64() == 2);
  CHECK(v.at("operations").at("delete").at("planned").as_int64() == 9);
  CHECK(v.at("queue_depth").as_int64() == 3);
  CHECK(v.at("bytes_done").as_int64() == 7000000);
  CHECK(v.at("bytes_pending").as_int64() == 3000000);
  CHECK(v.at("eta_is_lower_bound").as_bool());
  CHECK(v.at("eta_seconds").as_double() > 0);
  CHECK(v.at("clock_skew_seconds").as_double() == doctest::Approx(1.5));
  CHECK(v.at("average_bytes_per_second").as_double() > 0);

  // Copying: the ETA is what is left over the rate.
  SetStage(&p, Stage::kCopying);
  (*server)->status()->Sample();
  p.bytes_done = 8000000;
  v = Status(port);
  CHECK(v.at("stage").as_string() == "copying");
  CHECK_FALSE(v.at("eta_is_lower_bound").as_bool());
  const double rate = v.at("rate_bytes_per_second").as_double();
  CHECK(rate > 0);
  CHECK(v.at("eta_seconds").as_double() * rate == doctest::Approx(3000000.0).epsilon(1e-6));

  // Deleting: deletes left over the delete rate of this stage.
  SetStage(&p, Stage::kDeleting);
  p.bytes_pending = 0;
  p.pending[static_cast<int>(OpKind::kDelete)] = 0;
  v = Status(port);
  CHECK(v.at("eta_seconds").as_double() == 0);

  SetStage(&p, Stage::kDone);
  v = Status(port);
  CHECK(v.at("stage").as_string() == "done");
  CHECK(v.at("eta_seconds").as_double() == 0);
}

TEST_CASE("/metrics of a running sync, and the routes it does not have") {
  Progress p;
  auto server = LiveStatusServer::Start({"127.0.0.1", 0}, Run(), &p);
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  SetStage(&p, Stage::kCopying);
  p.done[static_cast<int>(OpKind::kDelete)] = 5;
  p.failed[static_cast<int>(OpKind::kUpdate)] = 2;
  p.bytes_done = 1234;
  p.bytes_pending = 10;
  p.queued = 6;
  auto r = testing::Fetch(port, "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line : {
           "ha_sync_run_info{pair=\"media\",direction=\"dell-to-hp\",run_id=\"0123456789abcdef0123456789abcdef\",dry_run=\"false\"} 1\n",
           "ha_sync_run_stage{pair=\"media\",direction=\"dell-to-hp\",stage=\"copying\"} 1\n",
           "ha_sync_run_stage{pair=\"media\",direction=\"dell-to-hp\",stage=\"scanning\"} 0\n",
           "ha_sync_run_operations_total{pair=\"media\",direction=\"dell-to-hp\",operation=\"delete\",outcome=\"done\"} 5\n",
           "ha_sync_run_operations_total{pair=\"media\",direction=\"dell-to-hp\",operation=\"update\",outcome=\"failed\"} 2\n",
           "ha_sync_run_bytes_copied_total{pair=\"media\",direction=\"dell-to-hp\"} 1234\n",
           "ha_sync_run_bytes_pending{pair=\"media\",direction=\"dell-to-hp\"} 10\n",
           "ha_sync_run_queue_depth{pair=\"media\",direction=\"dell-to-hp\"} 6\n",
           "# TYPE ha_sync_run_operations_total counter\n",
       }) {
    CAPTURE(line);
    CHECK(r.body.find(line) != std::string::npos);
  }
  CHECK(r.body.find("ha_sync_clock_skew_seconds") == std::string::npos);  // not measured
  p.clock_skew_ns = 250000000;
  CHECK(testing::Fetch(port, "/metrics").body.find(
            "ha_sync_clock_skew_seconds{pair=\"media\",direction=\"dell-to-hp\"} 0.25\n") !=
        std::string::npos);

  CHECK(testing::Fetch(port, "/").status == 404);
  CHECK(testing::Fetch(port, "/status?x=1").status == 400);
  auto post = testing::Fetch(port, "/status", "POST");
  CHECK(post.status == 405);
  CHECK(post.header("allow") == "GET, HEAD");
  CHECK(testing::Fetch(port, "/healthz").status == 200);
}

TEST_CASE("a taken port is an error, not a crash") {
  Progress p;
  auto first = LiveStatusServer::Start({"127.0.0.1", 0}, Run(), &p);
  REQUIRE(first.ok());
  auto second = LiveStatusServer::Start({"127.0.0.1", (*first)->port()}, Run(), &p);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("Address already in use") != std::string::npos);
}

}  // namespace
}  // namespace ha_sync::http
