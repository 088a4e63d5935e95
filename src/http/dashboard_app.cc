#include "http/dashboard_app.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <algorithm>
#include <set>
#include <tuple>

#include "ha_sync/op_record.h"
#include "http/dashboard_json.h"
#include "http/dashboard_plans.h"
#include "http/dashboard_queries.h"
#include "http/prometheus_text.h"
#include "http/responses.h"
#include "http/run_groups.h"
#include "http/static_assets.h"

namespace ha_sync::http {

namespace json = boost::json;
using status = beast_http::status;

namespace {

bool IsFailed(const std::string& run_status) {
  return run_status == "failed" || run_status == "partial_failure";
}

// When a finished run finished (a row written by a crash flush may lack ended_at).
int64_t EndOf(const IterationView& it) { return it.ended_at_ms.value_or(it.started_at_ms); }

Response BadRequest(const Status& s) { return ErrorResponse(status::bad_request, s.message()); }

Response Unavailable(const Status& s) {
  return ErrorResponse(status::service_unavailable, "database unavailable: " + s.message());
}

std::string Ago(int64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " days";
}

struct DirectionState {
  std::optional<IterationView> last_real;
  std::optional<IterationView> last_dry_run;
  std::optional<IterationView> running;
  std::optional<int64_t> last_success_real_ms;
  std::optional<int64_t> last_success_dry_ms;
};

using PairKey = std::pair<std::string, std::string>;  // pair, direction

std::map<PairKey, DirectionState> Collect(const LatestRuns& latest,
                                          const std::vector<LastSuccess>& successes) {
  std::map<PairKey, DirectionState> out;
  for (const IterationView& it : latest.finished) {
    DirectionState& d = out[{it.pair, it.direction}];
    (it.dry_run ? d.last_dry_run : d.last_real) = it;
  }
  for (const IterationView& it : latest.running) {
    DirectionState& d = out[{it.pair, it.direction}];
    // A running row older than the last finished run is a leftover that a
    // later flush has not settled yet; only a newer one is "running now".
    if (!d.last_real || it.started_at_ms >= d.last_real->started_at_ms) d.running = it;
  }
  for (const LastSuccess& s : successes) {
    auto it = out.find({s.pair, s.direction});
    if (it == out.end()) continue;
    (s.dry_run ? it->second.last_success_dry_ms : it->second.last_success_real_ms) = s.ended_at_ms;
  }
  return out;
}

// Why a direction needs an operator's attention (empty: it does not).
std::vector<std::string> Attention(const std::string& direction, const DirectionState& d,
                                   int64_t now_ms, int64_t stale_after_s) {
  std::vector<std::string> why;
  if (d.last_real && IsFailed(d.last_real->status)) {
    why.push_back(direction + ": last sync " + d.last_real->status +
                  (d.last_real->files_failed > 0
                       ? " (" + std::to_string(d.last_real->files_failed) + " failed)"
                       : ""));
  }
  // A failed dry-run matters while it is newer than the last real run
  // (when a pair switched to real runs, its old dry-runs do not).
  if (d.last_dry_run && IsFailed(d.last_dry_run->status) &&
      (!d.last_real || d.last_dry_run->started_at_ms > d.last_real->started_at_ms)) {
    why.push_back(direction + ": last dry-run " + d.last_dry_run->status);
  }
  if (direction == kUndoDirection) return why;  // a one-off: never "no run for ..."
  int64_t newest = 0;
  if (d.last_real) newest = std::max(newest, EndOf(*d.last_real));
  if (d.last_dry_run) newest = std::max(newest, EndOf(*d.last_dry_run));
  if (d.running) newest = std::max(newest, d.running->started_at_ms);
  if (newest > 0 && now_ms - newest > stale_after_s * 1000) {
    why.push_back(direction + ": no run for " + Ago((now_ms - newest) / 1000));
  }
  return why;
}

json::value OptIteration(const std::optional<IterationView>& it) {
  if (!it) return nullptr;
  return IterationJson(*it);
}

json::value OptIso(const std::optional<int64_t>& ms) {
  if (!ms) return nullptr;
  return json::value(IsoTime(*ms));
}

}  // namespace

DashboardApp::DashboardApp(ReadOnlyDb* db, DashboardOptions options)
    : db_(db), options_(std::move(options)) {}

Result<int64_t> DashboardApp::ConflictCopies(audit::SqlConnection* conn, int64_t iteration_id) {
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = conflict_cache_.find(iteration_id);
    if (it != conflict_cache_.end()) return it->second;
  }
  auto n = CountConflictCopies(conn, iteration_id);
  if (!n.ok()) return n.status();
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (conflict_cache_.size() >= 4096) conflict_cache_.clear();
  conflict_cache_[iteration_id] = *n;
  return *n;
}

Response DashboardApp::Handle(const Request& req) {
  if (req.method() != beast_http::verb::get && req.method() != beast_http::verb::head) {
    return MethodNotAllowed();
  }
  auto target = ParseTarget(req.target());
  if (!target.ok()) return BadRequest(target.status());
  const std::string& path = target->path;

  if (path == "/healthz") return Healthz();
  if (options_.auth.enabled() && !options_.auth.Check(req[beast_http::field::authorization])) {
    Response res = ErrorResponse(status::unauthorized, "authentication required");
    res.set(beast_http::field::www_authenticate, BasicAuth::Challenge());
    return res;
  }
  if (const StaticAsset* asset = FindStaticAsset(path)) {
    if (Status s = OnlyKnownParams(*target, {}); !s.ok()) return BadRequest(s);
    return TextResponse(status::ok, std::string(asset->body), asset->content_type);
  }
  if (path == "/api/pairs") {
    if (Status s = OnlyKnownParams(*target, {}); !s.ok()) return BadRequest(s);
    return Pairs();
  }
  if (path == "/api/iterations") return Iterations(*target);
  if (path == "/api/operations") return Operations(*target);
  if (path == "/metrics") {
    if (Status s = OnlyKnownParams(*target, {}); !s.ok()) return BadRequest(s);
    return Metrics();
  }
  return ErrorResponse(status::not_found, "no such route: " + DisplayPath(path));
}

Response DashboardApp::Healthz() {
  Status s = db_->With([](audit::SqlConnection* conn) { return PingAuditTables(conn); });
  json::object o;
  o["status"] = s.ok() ? "ok" : "unavailable";
  o["database"] = s.ok() ? "reachable" : "unreachable";
  // No error detail here: /healthz answers without authentication.
  return JsonResponse(s.ok() ? status::ok : status::service_unavailable, o);
}

Response DashboardApp::Pairs() {
  LatestRuns latest;
  std::vector<LastSuccess> successes;
  std::map<int64_t, int64_t> conflicts;
  std::map<int64_t, PlanSummary> plans;  // by dry-run id
  Status s = db_->With([&](audit::SqlConnection* conn) -> Status {
    auto l = QueryLatestRuns(conn);
    if (!l.ok()) return l.status();
    latest = std::move(*l);
    // A sharded run's status is its group's (run_groups.h).
    if (Status g = CollapseGroups(conn, &latest.finished); !g.ok()) return g;
    if (Status g = CollapseGroups(conn, &latest.running); !g.ok()) return g;
    auto su = QueryLastSuccesses(conn);
    if (!su.ok()) return su.status();
    successes = std::move(*su);
    for (const IterationView& it : latest.finished) {
      if (it.dry_run && it.status == "success") {
        auto plan = QueryPlanSummary(conn, it.id);
        if (!plan.ok()) return plan.status();
        plans[it.id] = std::move(*plan);
      }
      if (it.dry_run) continue;
      for (const IterationView& part : it.shards.empty() ? std::vector<IterationView>{it} : it.shards) {
        auto n = ConflictCopies(conn, part.id);
        if (!n.ok()) return n.status();
        conflicts[it.id] += *n;
      }
    }
    return Status::Ok();
  });
  if (!s.ok()) return Unavailable(s);

  const int64_t now = NowMs();
  const auto states = Collect(latest, successes);
  json::array pairs;
  std::string current_pair;
  for (const auto& [key, d] : states) {
    if (pairs.empty() || key.first != current_pair) {
      json::object p;
      p["pair"] = SafeText(key.first);
      p["attention"] = json::array();
      p["directions"] = json::array();
      pairs.push_back(std::move(p));
      current_pair = key.first;
    }
    json::object& current = pairs.back().as_object();
    json::object dir;
    dir["direction"] = SafeText(key.second);
    json::value last_real = OptIteration(d.last_real);
    if (d.last_real) last_real.as_object()["conflict_copies"] = conflicts[d.last_real->id];
    dir["last_real"] = std::move(last_real);
    dir["running"] = OptIteration(d.running);
    dir["last_dry_run"] = OptIteration(d.last_dry_run);
    // The pending plan: the newest dry-run when it succeeded (`ha-sync apply`).
    if (d.last_dry_run && plans.count(d.last_dry_run->id) != 0) {
      dir["plan"] = PlanJson(*d.last_dry_run, plans[d.last_dry_run->id]);
    } else {
      dir["plan"] = nullptr;
    }
    dir["last_success_real_at"] = OptIso(d.last_success_real_ms);
    dir["last_success_dry_run_at"] = OptIso(d.last_success_dry_ms);
    json::array why;
    for (const std::string& w : Attention(SafeText(key.second), d, now, options_.stale_after_seconds)) {
      why.push_back(json::value(w));
      current["attention"].as_array().push_back(json::value(w));
    }
    dir["attention"] = std::move(why);
    current["directions"].as_array().push_back(std::move(dir));
  }
  json::object o;
  o["now"] = IsoTime(now);
  o["stale_after_seconds"] = options_.stale_after_seconds;
  o["pairs"] = std::move(pairs);
  return JsonResponse(status::ok, o);
}

Response DashboardApp::Iterations(const Target& target) {
  if (Status s = OnlyKnownParams(target, {"pair", "direction", "dry_run", "status", "before_id", "limit"});
      !s.ok()) {
    return BadRequest(s);
  }
  IterationFilter f;
  auto pair = TextParam(target, "pair", 255);
  if (!pair.ok()) return BadRequest(pair.status());
  f.pair = *pair;
  auto direction = TextParam(target, "direction", 64);
  if (!direction.ok()) return BadRequest(direction.status());
  f.direction = *direction;
  auto dry = IntParam(target, "dry_run", 0, 1);
  if (!dry.ok()) return BadRequest(dry.status());
  if (*dry) f.dry_run = **dry == 1;
  auto st = TextParam(target, "status", 32);
  if (!st.ok()) return BadRequest(st.status());
  if (*st) {
    RunStatus parsed;
    if (!ParseRunStatus(**st, &parsed)) {
      return BadRequest(Status::Error(
          "parameter 'status' must be running, success, partial_failure or failed"));
    }
    f.status = *st;
  }
  auto before = IntParam(target, "before_id", 1, INT64_MAX);
  if (!before.ok()) return BadRequest(before.status());
  f.before_id = *before;
  auto limit = IntParam(target, "limit", 1, kMaxIterationsLimit);
  if (!limit.ok()) return BadRequest(limit.status());
  f.limit = limit->value_or(kDefaultIterationsLimit);

  std::vector<IterationView> rows;
  bool more = false;
  int64_t next_before_id = 0;
  // One row more than asked tells whether another page exists.
  IterationFilter probe = f;
  probe.limit = f.limit + 1;
  Status s = db_->With([&](audit::SqlConnection* conn) -> Status {
    auto r = QueryIterations(conn, probe);
    if (!r.ok()) return r.status();
    rows = std::move(*r);
    more = static_cast<int64_t>(rows.size()) > f.limit;
    if (more) rows.resize(static_cast<size_t>(f.limit));
    next_before_id = rows.empty() ? 0 : rows.back().id;
    // A sharded run is one entry with its shards (run_groups.h).
    return CollapseGroups(conn, &rows);
  });
  if (!s.ok()) return Unavailable(s);
  json::array list;
  for (const IterationView& it : rows) list.push_back(IterationJson(it));
  json::object o;
  o["iterations"] = std::move(list);
  o["limit"] = f.limit;
  o["next_before_id"] = more ? json::value(next_before_id) : json::value(nullptr);
  return JsonResponse(status::ok, o);
}

Response DashboardApp::Operations(const Target& target) {
  if (Status s = OnlyKnownParams(target, {"iteration_id", "status", "after_id", "limit"}); !s.ok()) {
    return BadRequest(s);
  }
  auto id = IntParam(target, "iteration_id", 1, INT64_MAX);
  if (!id.ok()) return BadRequest(id.status());
  if (!*id) return BadRequest(Status::Error("parameter 'iteration_id' is required"));
  OperationFilter f;
  f.iteration_id = **id;
  auto st = TextParam(target, "status", 16);
  if (!st.ok()) return BadRequest(st.status());
  if (*st) {
    OpStatus parsed;
    if (!ParseOpStatus(**st, &parsed)) {
      return BadRequest(Status::Error("parameter 'status' must be success or fail"));
    }
    f.status = *st;
  }
  auto after = IntParam(target, "after_id", 0, INT64_MAX);
  if (!after.ok()) return BadRequest(after.status());
  f.after_id = after->value_or(0);
  auto limit = IntParam(target, "limit", 1, kMaxOperationsLimit);
  if (!limit.ok()) return BadRequest(limit.status());
  f.limit = limit->value_or(kDefaultOperationsLimit);

  std::optional<IterationView> iteration;
  std::vector<OperationRow> rows;
  OperationFilter probe = f;
  probe.limit = f.limit + 1;
  Status s = db_->With([&](audit::SqlConnection* conn) -> Status {
    auto it = QueryIteration(conn, f.iteration_id);
    if (!it.ok()) return it.status();
    iteration = std::move(*it);
    if (!iteration) return Status::Ok();
    auto r = QueryOperations(conn, probe);
    if (!r.ok()) return r.status();
    rows = std::move(*r);
    return Status::Ok();
  });
  if (!s.ok()) return Unavailable(s);
  if (!iteration) {
    return ErrorResponse(status::not_found, "no iteration with id " + std::to_string(f.iteration_id));
  }
  const bool more = static_cast<int64_t>(rows.size()) > f.limit;
  if (more) rows.resize(static_cast<size_t>(f.limit));
  json::array list;
  for (const OperationRow& op : rows) list.push_back(OperationJson(op));
  json::object o;
  o["iteration"] = IterationJson(*iteration);
  o["operations"] = std::move(list);
  o["limit"] = f.limit;
  o["next_after_id"] = more ? json::value(rows.back().id) : json::value(nullptr);
  return JsonResponse(status::ok, o);
}

Response DashboardApp::Metrics() {
  LatestRuns latest;
  std::vector<LastSuccess> successes;
  Status s = db_->With([&](audit::SqlConnection* conn) -> Status {
    auto l = QueryLatestRuns(conn);
    if (!l.ok()) return l.status();
    latest = std::move(*l);
    if (Status g = CollapseGroups(conn, &latest.finished); !g.ok()) return g;
    if (Status g = CollapseGroups(conn, &latest.running); !g.ok()) return g;
    auto su = QueryLastSuccesses(conn);
    if (!su.ok()) return su.status();
    successes = std::move(*su);
    return Status::Ok();
  });
  PrometheusText p;
  p.Family("ha_sync_db_up", "gauge", "1 when the audit database answered this scrape, else 0.");
  p.Sample("ha_sync_db_up", {}, s.ok() ? 1 : 0);
  if (!s.ok()) return TextResponse(status::ok, p.text(), kPrometheusContentType);

  auto labels = [](const IterationView& it) {
    return Labels{{"pair", it.pair}, {"direction", it.direction},
                  {"dry_run", it.dry_run ? "true" : "false"}};
  };
  const auto& runs = latest.finished;
  auto family = [&](const std::string& name, const std::string& help, auto value) {
    p.Family(name, "gauge", help);
    for (const IterationView& it : runs) p.Sample(name, labels(it), value(it));
  };
  family("ha_sync_last_run_failed",
         "1 when the newest finished run of this pair, direction and mode failed or partly failed.",
         [](const IterationView& it) { return IsFailed(it.status) ? 1.0 : 0.0; });
  family("ha_sync_last_run_success", "1 when the newest finished run succeeded.",
         [](const IterationView& it) { return it.status == "success" ? 1.0 : 0.0; });
  p.Family("ha_sync_last_run_status", "gauge",
           "The newest finished run's status: 1 for the status it has, 0 for the others.");
  for (const IterationView& it : runs) {
    for (const char* st : {"success", "partial_failure", "failed"}) {
      Labels l = labels(it);
      l.emplace_back("status", st);
      p.Sample("ha_sync_last_run_status", l, it.status == st ? 1 : 0);
    }
  }
  family("ha_sync_last_run_start_timestamp_seconds", "When the newest finished run started (Unix time).",
         [](const IterationView& it) { return static_cast<double>(it.started_at_ms) / 1000.0; });
  family("ha_sync_last_run_end_timestamp_seconds", "When the newest finished run ended (Unix time).",
         [](const IterationView& it) { return static_cast<double>(EndOf(it)) / 1000.0; });
  family("ha_sync_last_run_duration_seconds", "How long the newest finished run took.",
         [](const IterationView& it) { return static_cast<double>(EndOf(it) - it.started_at_ms) / 1000.0; });
  family("ha_sync_last_run_bytes_transferred", "Bytes the newest finished run copied.",
         [](const IterationView& it) { return static_cast<double>(it.bytes_transferred); });
  family("ha_sync_last_run_files_failed", "Operations that failed in the newest finished run.",
         [](const IterationView& it) { return static_cast<double>(it.files_failed); });
  p.Family("ha_sync_last_run_files", "gauge",
           "Operations of the newest finished run by outcome (created, updated, deleted, skipped, failed).");
  for (const IterationView& it : runs) {
    const std::pair<const char*, int64_t> counts[] = {
        {"created", it.files_created}, {"updated", it.files_updated}, {"deleted", it.files_deleted},
        {"skipped", it.files_skipped}, {"failed", it.files_failed}};
    for (const auto& [what, n] : counts) {
      Labels l = labels(it);
      l.emplace_back("outcome", what);
      p.Sample("ha_sync_last_run_files", l, static_cast<double>(n));
    }
  }
  // Only runs that measured the clocks (production runs that got as far as the probe).
  p.Family("ha_sync_last_run_clock_skew_seconds", "gauge",
           "Skew between the mtime clocks of src and dest measured by the newest finished run "
           "(docs/safety.md); absent when that run did not measure it.");
  for (const IterationView& it : runs) {
    if (it.clock_skew_ns) {
      p.Sample("ha_sync_last_run_clock_skew_seconds", labels(it), static_cast<double>(*it.clock_skew_ns) / 1e9);
    }
  }
  p.Family("ha_sync_last_run_mtime_precision_seconds", "gauge",
           "The coarsest mtime precision of the two roots, from the newest finished run's probe.");
  for (const IterationView& it : runs) {
    if (it.mtime_precision_ns) {
      p.Sample("ha_sync_last_run_mtime_precision_seconds", labels(it),
               static_cast<double>(*it.mtime_precision_ns) / 1e9);
    }
  }
  p.Family("ha_sync_last_success_timestamp_seconds", "gauge",
           "When a run of this pair, direction and mode last ended with status success (Unix time); undo runs are one-offs and not included.");
  for (const LastSuccess& su : successes) {
    if (su.direction == kUndoDirection) continue;  // a one-off, not a schedule to watch
    p.Sample("ha_sync_last_success_timestamp_seconds",
             {{"pair", su.pair}, {"direction", su.direction}, {"dry_run", su.dry_run ? "true" : "false"}},
             static_cast<double>(su.ended_at_ms) / 1000.0);
  }
  const auto states = Collect(latest, successes);
  p.Family("ha_sync_running", "gauge", "1 while a production run of this pair and direction is recorded as running.");
  for (const auto& [key, d] : states) {
    p.Sample("ha_sync_running", {{"pair", key.first}, {"direction", key.second}}, d.running ? 1 : 0);
  }
  return TextResponse(status::ok, p.text(), kPrometheusContentType);
}

}  // namespace ha_sync::http
