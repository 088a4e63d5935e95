// Which part of a pair's tree one run owns when a pair is split over N
// runs (docs/cli.md "Shards"; a Kubernetes Indexed Job runs one per pod).
//
// The unit of ownership is a name directly in the root: a directory there
// (with everything below it) belongs to shard Fnv1a64(name) % N; anything
// else there (files, symlinks, specials) belongs to shard 0. Whether a name
// is a directory is taken from src when it exists there, else from dest,
// else from the sync state, so that every name has exactly one owner and a
// rerun (of either direction, with the same N) assigns the same way. The
// hash is of the name's bytes only: stable across hosts, builds and runs.
//
// Per shard, the files a pair keeps in the log directory are split too, so
// that shards running at once never write the same file: the sync state
// (`state-<pair>.shard-<i>-of-<n>.hss`), the temp tags, and the lock file.
// What a whole group must agree on (the root guard) reads every shard's
// state; see ShardStatePaths().
//
// Thread-safety: pure functions and a value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/dir_entry.h"
#include "pipeline/sync_state.h"

namespace ha_sync::pipeline {

struct ShardSpec {
  int index = 0;
  int count = 1;  // 1: not sharded, the run owns the whole tree
  bool sharded() const { return count > 1; }
  // "<i>-of-<n>": names the shard's lease, lock file and state file.
  std::string Suffix() const;
};

inline constexpr int kMaxShards = 1000;

// FNV-1a, 64 bit, of the bytes of `name`.
uint64_t Fnv1a64(const std::string& name);
// The shard that owns the root-level directory `name`.
int ShardOfDir(const std::string& name, int count);

// Parses "I/N" (0 <= I < N <= kMaxShards); an error text, or "" when ok.
std::string ParseShardSpec(const std::string& text, ShardSpec* out);

// Keeps only the root-level names this shard owns in the three lists (see
// the header comment; state may be null).
void FilterRootForShard(const ShardSpec& shard, std::vector<io::Entry>* src,
                        std::vector<io::Entry>* dest, std::vector<StateEntry>* state);

// Per-shard files in the log directory; for an unsharded spec the plain
// pair files (StatePath(), TempTagsPath()).
std::string ShardStatePath(const std::string& log_dir, const std::string& pair, const ShardSpec& shard);
std::string ShardTempTagsPath(const std::string& log_dir, const std::string& pair,
                              const ShardSpec& shard);
// The state files of every shard of a group of shard.count runs.
std::vector<std::string> ShardStatePaths(const std::string& log_dir, const std::string& pair, int count);
// The pair's state files in log_dir kept under another layout than
// `shard`: the unsharded state-<pair>.hss for a sharded run, and
// state-<pair>.shard-<i>-of-<n>.hss with n != shard.count. Names are
// matched exactly (a pair "p.shard-1" is another pair). Sorted.
std::vector<std::string> OtherLayoutStatePaths(const std::string& log_dir, const std::string& pair,
                                               const ShardSpec& shard);

// --max-delete N split over a group: shard i may delete N/n files, plus
// one for the first N%n shards, so the group never deletes more than N.
int64_t ShardDeleteBudget(int64_t group_budget, const ShardSpec& shard);

}  // namespace ha_sync::pipeline
