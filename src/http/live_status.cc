#include "http/live_status.h"

#include <boost/json/array.hpp>
#include <chrono>
#include <mutex>

#include "ha_sync/op_record.h"
#include "http/dashboard_json.h"
#include "http/prometheus_text.h"
#include "http/query.h"
#include "http/responses.h"

namespace ha_sync::http {

namespace json = boost::json;
using status = beast_http::status;

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kRateWindowMs = 10000;
constexpr OpKind kKinds[] = {OpKind::kCreate, OpKind::kUpdate, OpKind::kDelete};

}  // namespace

struct LiveStatus::Snapshot {
  Stage stage = Stage::kStarting;
  int64_t now_ms = 0;
  int64_t elapsed_ms = 0;
  int64_t stage_elapsed_ms = 0;
  int64_t dirs = 0;
  int64_t entries = 0;
  int64_t done[3] = {};
  int64_t failed[3] = {};
  int64_t pending[3] = {};
  int64_t bytes_done = 0;
  int64_t bytes_pending = 0;
  int64_t queued = 0;
  std::optional<int64_t> clock_skew_ns;
  double rate = 0;          // bytes/s over the recent window
  double average_rate = 0;  // bytes/s over the run
  std::optional<double> eta_s;
};

LiveStatus::LiveStatus(RunHeader run, const Progress* progress)
    : run_(std::move(run)), progress_(progress) {
  Sample();
  sampler_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      lock.unlock();
      Sample();
      lock.lock();
    }
  });
}

LiveStatus::~LiveStatus() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  sampler_.join();
}

void LiveStatus::Sample() {
  const int64_t now = SteadyMs();
  const int64_t bytes = progress_->bytes_done.load();
  std::lock_guard<std::mutex> lock(mu_);
  samples_.emplace_back(now, bytes);
  while (samples_.size() > 2 && now - samples_[1].first >= kRateWindowMs) samples_.pop_front();
}

LiveStatus::Snapshot LiveStatus::Take() {
  const Progress& p = *progress_;
  Snapshot s;
  s.stage = static_cast<Stage>(p.stage.load());
  s.now_ms = NowMs();
  s.elapsed_ms = std::max<int64_t>(0, s.now_ms - run_.started_at_ms);
  const int64_t stage_start = p.stage_started_ms.load();
  s.stage_elapsed_ms = stage_start > 0 ? std::max<int64_t>(0, s.now_ms - stage_start) : s.elapsed_ms;
  s.dirs = p.dirs_scanned.load();
  s.entries = p.entries_scanned.load();
  {
    // One consistent view: an operation moving from pending to done is
    // counted once (engine.h, Progress).
    std::lock_guard<std::mutex> ops_lock(p.ops_mu);
    for (int k = 0; k < 3; ++k) {
      s.done[k] = p.done[k].load();
      s.failed[k] = p.failed[k].load();
      s.pending[k] = std::max<int64_t>(0, p.pending[k].load());
    }
    s.bytes_done = p.bytes_done.load();
    s.bytes_pending = std::max<int64_t>(0, p.bytes_pending.load());
  }
  s.queued = p.queued.load();
  if (const int64_t skew = p.clock_skew_ns.load(); skew >= 0) s.clock_skew_ns = skew;

  const int64_t steady_now = SteadyMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!samples_.empty() && steady_now - samples_.front().first > 0) {
      s.rate = static_cast<double>(s.bytes_done - samples_.front().second) * 1000.0 /
               static_cast<double>(steady_now - samples_.front().first);
    }
  }
  if (s.elapsed_ms > 0) s.average_rate = static_cast<double>(s.bytes_done) * 1000.0 / static_cast<double>(s.elapsed_ms);
  const double rate = s.rate > 0 ? s.rate : s.average_rate;
  if (s.stage == Stage::kScanning || s.stage == Stage::kCopying) {
    if (s.bytes_pending == 0) s.eta_s = 0;
    else if (rate > 0) s.eta_s = static_cast<double>(s.bytes_pending) / rate;
  } else if (s.stage == Stage::kDeleting) {
    const int del = static_cast<int>(OpKind::kDelete);
    const int64_t handled = s.done[del] + s.failed[del];
    if (s.pending[del] == 0) s.eta_s = 0;
    else if (handled > 0 && s.stage_elapsed_ms > 0) {
      s.eta_s = static_cast<double>(s.pending[del]) * static_cast<double>(s.stage_elapsed_ms) / 1000.0 /
                static_cast<double>(handled);
    }
  } else if (s.stage == Stage::kFinishing || s.stage == Stage::kDone) {
    s.eta_s = 0;
  }
  return s;
}

json::object LiveStatus::StatusJson() {
  const Snapshot s = Take();
  json::object o;
  o["run_id"] = run_.run_id;
  o["pair"] = SafeText(run_.pair);
  o["direction"] = SafeText(run_.direction);
  o["src"] = SafeText(run_.src);
  o["dest"] = SafeText(run_.dest);
  o["dry_run"] = run_.dry_run;
  o["stage"] = ToString(s.stage);
  o["started_at"] = IsoTime(run_.started_at_ms);
  o["now"] = IsoTime(s.now_ms);
  o["elapsed_seconds"] = static_cast<double>(s.elapsed_ms) / 1000.0;
  o["dirs_scanned"] = s.dirs;
  o["entries_scanned"] = s.entries;
  json::object ops;
  for (OpKind kind : kKinds) {
    const int k = static_cast<int>(kind);
    json::object one;
    one["planned"] = s.done[k] + s.failed[k] + s.pending[k];
    one["done"] = s.done[k];
    one["failed"] = s.failed[k];
    one["pending"] = s.pending[k];
    ops[ToString(kind)] = std::move(one);
  }
  o["operations"] = std::move(ops);
  o["bytes_done"] = s.bytes_done;
  o["bytes_pending"] = s.bytes_pending;
  o["rate_bytes_per_second"] = s.rate;
  o["average_bytes_per_second"] = s.average_rate;
  o["eta_seconds"] = s.eta_s ? json::value(*s.eta_s) : json::value(nullptr);
  // While the walk still finds work, the ETA covers only the work found.
  o["eta_is_lower_bound"] = s.stage == Stage::kScanning;
  o["queue_depth"] = s.queued;
  o["clock_skew_seconds"] =
      s.clock_skew_ns ? json::value(static_cast<double>(*s.clock_skew_ns) / 1e9) : json::value(nullptr);
  return o;
}

std::string LiveStatus::MetricsText() {
  const Snapshot s = Take();
  const Labels base{{"pair", run_.pair}, {"direction", run_.direction}};
  auto with = [&base](const char* k, const std::string& v) {
    Labels l = base;
    l.emplace_back(k, v);
    return l;
  };
  PrometheusText p;
  p.Family("ha_sync_run_info", "gauge", "The run this process is doing (always 1).");
  {
    Labels l = with("run_id", run_.run_id);
    l.emplace_back("dry_run", run_.dry_run ? "true" : "false");
    p.Sample("ha_sync_run_info", l, 1);
  }
  p.Family("ha_sync_run_stage", "gauge", "1 for the stage the run is in, 0 for the others.");
  for (Stage st : {Stage::kStarting, Stage::kProbing, Stage::kScanning, Stage::kCopying,
                   Stage::kDeleting, Stage::kFinishing, Stage::kDone}) {
    p.Sample("ha_sync_run_stage", with("stage", ToString(st)), st == s.stage ? 1 : 0);
  }
  p.Family("ha_sync_run_start_timestamp_seconds", "gauge", "When the run started (Unix time).");
  p.Sample("ha_sync_run_start_timestamp_seconds", base, static_cast<double>(run_.started_at_ms) / 1000.0);
  p.Family("ha_sync_run_dirs_scanned_total", "counter", "Directories listed so far.");
  p.Sample("ha_sync_run_dirs_scanned_total", base, static_cast<double>(s.dirs));
  p.Family("ha_sync_run_entries_scanned_total", "counter", "Directory entries listed so far.");
  p.Sample("ha_sync_run_entries_scanned_total", base, static_cast<double>(s.entries));
  p.Family("ha_sync_run_operations_total", "counter", "Finished operations by kind and outcome.");
  for (OpKind kind : kKinds) {
    const int k = static_cast<int>(kind);
    Labels ok = with("operation", ToString(kind));
    Labels bad = ok;
    ok.emplace_back("outcome", "done");
    bad.emplace_back("outcome", "failed");
    p.Sample("ha_sync_run_operations_total", ok, static_cast<double>(s.done[k]));
    p.Sample("ha_sync_run_operations_total", bad, static_cast<double>(s.failed[k]));
  }
  p.Family("ha_sync_run_operations_pending", "gauge",
           "Operations decided on and not finished yet (file work queued or running, deletes spooled).");
  for (OpKind kind : kKinds) {
    p.Sample("ha_sync_run_operations_pending", with("operation", ToString(kind)),
             static_cast<double>(s.pending[static_cast<int>(kind)]));
  }
  p.Family("ha_sync_run_bytes_copied_total", "counter", "Bytes written to dest so far.");
  p.Sample("ha_sync_run_bytes_copied_total", base, static_cast<double>(s.bytes_done));
  p.Family("ha_sync_run_bytes_pending", "gauge", "Bytes of the queued and running copies.");
  p.Sample("ha_sync_run_bytes_pending", base, static_cast<double>(s.bytes_pending));
  p.Family("ha_sync_run_queue_depth", "gauge", "File operations waiting for a worker.");
  p.Sample("ha_sync_run_queue_depth", base, static_cast<double>(s.queued));
  p.Family("ha_sync_run_rate_bytes_per_second", "gauge", "Copy rate over the last 10 seconds.");
  p.Sample("ha_sync_run_rate_bytes_per_second", base, s.rate);
  if (s.eta_s) {
    p.Family("ha_sync_run_eta_seconds", "gauge",
             "Estimated seconds left in this stage (while scanning: for the work found so far).");
    p.Sample("ha_sync_run_eta_seconds", base, *s.eta_s);
  }
  if (s.clock_skew_ns) {
    p.Family("ha_sync_clock_skew_seconds", "gauge",
             "Measured skew between the mtime clocks of src and dest (docs/safety.md).");
    p.Sample("ha_sync_clock_skew_seconds", base, static_cast<double>(*s.clock_skew_ns) / 1e9);
  }
  return p.text();
}

Response LiveStatus::Handle(const Request& req) {
  if (req.method() != beast_http::verb::get && req.method() != beast_http::verb::head) {
    return MethodNotAllowed();
  }
  auto target = ParseTarget(req.target());
  if (!target.ok()) return ErrorResponse(status::bad_request, target.status().message());
  if (Status s = OnlyKnownParams(*target, {}); !s.ok()) {
    return ErrorResponse(status::bad_request, s.message());
  }
  if (target->path == "/status") return JsonResponse(status::ok, StatusJson());
  if (target->path == "/metrics") return TextResponse(status::ok, MetricsText(), kPrometheusContentType);
  if (target->path == "/healthz") {
    json::object o;
    o["status"] = "ok";
    return JsonResponse(status::ok, o);
  }
  return ErrorResponse(status::not_found, "no such route: " + DisplayPath(target->path) +
                                              " (this is a running ha-sync: /status, /metrics)");
}

Result<std::unique_ptr<LiveStatusServer>> LiveStatusServer::Start(const ListenAddress& address,
                                                                   RunHeader run,
                                                                   const Progress* progress) {
  auto out = std::unique_ptr<LiveStatusServer>(new LiveStatusServer());
  out->status_ = std::make_unique<LiveStatus>(std::move(run), progress);
  ServerOptions o;
  o.host = address.host;
  o.port = address.port;
  o.io_threads = 1;
  o.handler_threads = 1;
  o.max_connections = 64;
  LiveStatus* status = out->status_.get();
  auto server = HttpServer::Start(o, [status](const Request& r) { return status->Handle(r); });
  if (!server.ok()) return server.status();
  out->server_ = std::move(*server);
  return out;
}

}  // namespace ha_sync::http
