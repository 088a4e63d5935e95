// A sharded run as one run (docs/api.md "Sharded runs"): its shards' rows
// in sync_iterations (same run_group, pair, direction and mode) merged
// into one IterationView that carries the shards in `shards`.
//
// The merged row: id, run_id and src/dest of the newest shard row; counts
// and bytes summed; started_at the earliest, ended_at the latest (NULL
// while a shard runs); status running while any shard runs, else the
// worst of failed > partial_failure > success; error_message the first
// shard's error, prefixed "shard I/N: "; the largest clock skew (by
// magnitude) and mtime precision. A group whose shards are not all
// recorded yet keeps shard_count N and lists fewer shards.
//
// Thread-safety: functions use only the given connection.
#pragma once

#include <vector>

#include "audit/sql_connection.h"
#include "http/dashboard_queries.h"

namespace ha_sync::http {

// `shards` non-empty, all of one group.
IterationView MergeShards(std::vector<IterationView> shards);

// Replaces every shard row of `rows` by its whole group, merged (the first
// row of a group, in the given order, takes its place; later rows of the
// same group are dropped). Rows without a group stay as they are.
Status CollapseGroups(audit::SqlConnection* conn, std::vector<IterationView>* rows);

}  // namespace ha_sync::http
