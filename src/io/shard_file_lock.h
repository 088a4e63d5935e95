// The flock locks of one shard of a sharded run (docs/cli.md "Shards"),
// all in --log-dir:
//  - ha-sync-<pair>.lock, LOCK_SH: the pair's lock, which an unsharded run
//    takes LOCK_EX (FileLock), so the two exclude each other;
//  - ha-sync-<pair>.shards-of-<n>.lock, LOCK_SH: marks a run of n shards.
//    A shard takes it only after finding every other shards-of-<m> file
//    (m != n) free (LOCK_EX|LOCK_NB succeeds), so runs of different shard
//    counts (which split the tree differently) exclude each other;
//  - ha-sync-<pair>.shards-gate.lock, LOCK_EX while doing the two steps
//    above, so two shards of different counts cannot both check before
//    either marks (held for a few system calls only);
//  - ha-sync-<pair>-<i>-of-<n>.lock: the shard's own (a FileLock), so two
//    runs of one shard exclude each other.
// The kernel drops every lock when the process dies.
//
// Thread-safety: as FileLock.
#pragma once

#include <string>

#include "ha_sync/run_lock.h"
#include "io/file_lock.h"

namespace ha_sync::io {

class ShardFileLock : public RunLock {
 public:
  ShardFileLock(std::string log_dir, std::string pair, int index, int count, std::string run_id);
  ~ShardFileLock() override;

  AcquireResult Acquire() override;
  bool MayStillWrite() const override { return true; }
  Status Release() override;

 private:
  // Under the gate: the pair's lock shared, no other shard count active, ours marked.
  AcquireResult JoinGroup();
  void Drop();

  const std::string log_dir_;
  const std::string pair_;
  const int count_;
  FileLock own_;
  int pair_fd_ = -1;
  int group_fd_ = -1;
};

}  // namespace ha_sync::io
