#include "http/run_groups.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <tuple>

namespace ha_sync::http {

namespace {

int Severity(const std::string& status) {
  if (status == "running") return 3;
  if (status == "failed") return 2;
  if (status == "partial_failure") return 1;
  return 0;
}

}  // namespace

IterationView MergeShards(std::vector<IterationView> shards) {
  std::sort(shards.begin(), shards.end(), [](const IterationView& a, const IterationView& b) {
    return std::tie(a.shard_index, a.id) < std::tie(b.shard_index, b.id);
  });
  const IterationView* newest = &shards.front();
  for (const IterationView& s : shards) {
    if (std::tie(s.started_at_ms, s.id) > std::tie(newest->started_at_ms, newest->id)) newest = &s;
  }
  IterationView g = *newest;
  g.shard_index.reset();
  g.started_at_ms = newest->started_at_ms;
  g.files_created = g.files_updated = g.files_deleted = g.files_skipped = g.files_failed = 0;
  g.bytes_transferred = 0;
  g.error_message.reset();
  g.clock_skew_ns.reset();
  g.mtime_precision_ns.reset();
  g.status = "success";
  bool running = false;
  for (const IterationView& s : shards) {
    g.started_at_ms = std::min(g.started_at_ms, s.started_at_ms);
    if (!s.ended_at_ms) running = true;
    if (s.ended_at_ms && (!g.ended_at_ms || *s.ended_at_ms > *g.ended_at_ms)) g.ended_at_ms = s.ended_at_ms;
    g.files_created += s.files_created;
    g.files_updated += s.files_updated;
    g.files_deleted += s.files_deleted;
    g.files_skipped += s.files_skipped;
    g.files_failed += s.files_failed;
    g.bytes_transferred += s.bytes_transferred;
    if (Severity(s.status) > Severity(g.status)) g.status = s.status;
    if (!g.error_message && s.error_message) {
      g.error_message = "shard " + std::to_string(s.shard_index.value_or(0)) + "/" +
                        std::to_string(s.shard_count.value_or(1)) + ": " + *s.error_message;
    }
    if (s.clock_skew_ns && (!g.clock_skew_ns || std::llabs(*s.clock_skew_ns) > std::llabs(*g.clock_skew_ns))) {
      g.clock_skew_ns = s.clock_skew_ns;
    }
    if (s.mtime_precision_ns && (!g.mtime_precision_ns || *s.mtime_precision_ns > *g.mtime_precision_ns)) {
      g.mtime_precision_ns = s.mtime_precision_ns;
    }
  }
  if (running) g.ended_at_ms.reset();
  g.shards = std::move(shards);
  return g;
}

Status CollapseGroups(audit::SqlConnection* conn, std::vector<IterationView>* rows) {
  std::set<std::tuple<std::string, std::string, std::string, bool>> seen;
  std::vector<IterationView> out;
  for (IterationView& r : *rows) {
    if (!r.run_group) {
      out.push_back(std::move(r));
      continue;
    }
    if (!seen.insert({*r.run_group, r.pair, r.direction, r.dry_run}).second) continue;
    auto shards = QueryGroupShards(conn, r);
    if (!shards.ok()) return shards.status();
    if (shards->empty()) shards->push_back(r);
    out.push_back(MergeShards(std::move(*shards)));
  }
  *rows = std::move(out);
  return Status::Ok();
}

}  // namespace ha_sync::http
