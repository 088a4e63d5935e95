// Test support (linked into the http tests and the ui_seed tool only): writes
// known runs into an audit database through the real writer
// (audit::AuditStore::RunWriter), so the API and the page are tested on rows
// exactly as ha-sync stores them.
//
// The standard data set, times relative to `now_ms`:
//   media     dell-to-hp  real success 12 min ago: 12 created (one named
//                         "<img src=x onerror=alert(1)>", one a conflict copy),
//                         3 updated, 1 deleted, 0 failed, 5,000,000 bytes, 40 s;
//                         8 older real runs (chart history) and a dry-run 3 min
//                         ago planning 4 creates
//             hp-to-dell  real success 5 min ago: 2 created
//   photos    dell-to-hp  real partial_failure 20 min ago: 5 created, 2 failed
//                         (one with a non-UTF-8 name, one with an error text
//                         "<script>alert(2)</script>")
//             hp-to-dell  real success 6 min ago
//   owncloud  dell-to-hp  real success 3 h ago (stale)
//   ai        dell-to-hp  real success 30 min ago, and one running since 1 min
//   games     dell-to-hp  dry-runs only: success 8 min ago (1 create planned)
//   infra     dell-to-hp  real failed 9 min ago, no operations, an error message
//
// Thread-safety: test code, one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "audit/dsn.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::http::testing {

struct SeededRun {
  RunHeader header;
  std::vector<OpRecord> ops;
  RunFooter footer;
};

// A run of pair/direction that started at `started_ms`, lasted `seconds`,
// with `ops` as given; counts are computed from the ops; status from them
// unless `status` is given.
SeededRun MakeRun(const std::string& pair, const std::string& direction, bool dry_run,
                  int64_t started_ms, double seconds, std::vector<OpRecord> ops);
OpRecord Op(OpKind kind, const std::string& path, int64_t size, bool ok = true,
            const std::string& error = "");

// Writes the run (one transaction, like a flush).
Status WriteRun(const audit::Dsn& dsn, const SeededRun& run);
// A production run's 'running' row.
Status WriteRunning(const audit::Dsn& dsn, const RunHeader& header);

// The standard data set above.
Status SeedStandard(const audit::Dsn& dsn, int64_t now_ms);

// The names the standard data set uses (tests look for them).
inline constexpr const char* kXssName = "<img src=x onerror=alert(1)>";
inline constexpr const char* kXssError = "<script>alert(2)</script>";
inline constexpr const char* kConflictCopy =
    "films/movie.ha-sync-conflict-20261125T100000Z-hp-to-dell.mkv";
inline constexpr const char* kNonUtf8Name = "raw/\xff\xfe-bytes.jpg";

}  // namespace ha_sync::http::testing
