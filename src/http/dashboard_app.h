// The routes of ha-sync-ui (docs/api.md):
//   GET /                 the page (HTML; its script and style are separate files)
//   GET /app.js, /app.css, /favicon.svg
//   GET /api/pairs        per pair and direction: last real run, running run, last dry-run
//   GET /api/iterations   recent runs, filtered, paged by id
//   GET /api/operations   one run's operations, filtered, paged by id
//   GET /healthz          200 when the database answers, else 503 (no auth)
//   GET /metrics          Prometheus text
// Other methods: 405 with Allow; unknown paths: 404; bad parameters: 400;
// database unavailable: 503 (APIs), ha_sync_db_up 0 (metrics). All error
// bodies are JSON {"error": "..."}. With basic auth configured, everything
// but /healthz answers 401 without valid credentials.
//
// Thread-safety: Handle() may be called from many threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "http/basic_auth.h"
#include "http/http_server.h"
#include "http/query.h"
#include "http/read_only_db.h"

namespace ha_sync::http {

struct DashboardOptions {
  // A direction whose newest finished run ended longer ago than this is
  // "stale" (red on the page).
  int64_t stale_after_seconds = 3600;
  BasicAuth auth;  // disabled when empty
};

// Limits of the paged APIs.
inline constexpr int64_t kMaxIterationsLimit = 500;
inline constexpr int64_t kDefaultIterationsLimit = 20;
inline constexpr int64_t kMaxOperationsLimit = 1000;
inline constexpr int64_t kDefaultOperationsLimit = 100;

class DashboardApp {
 public:
  DashboardApp(ReadOnlyDb* db, DashboardOptions options);
  Response Handle(const Request& req);

 private:
  Response Pairs();
  Response Iterations(const Target& target);
  Response Operations(const Target& target);
  Response Healthz();
  Response Metrics();
  // The conflict copies a finished iteration created (rows of a finished
  // iteration never change: counted once, then cached).
  Result<int64_t> ConflictCopies(audit::SqlConnection* conn, int64_t iteration_id);

  ReadOnlyDb* const db_;
  const DashboardOptions options_;
  std::mutex cache_mu_;
  std::map<int64_t, int64_t> conflict_cache_;
};

}  // namespace ha_sync::http
