// Chooses and builds the RunLock of one run from the options (docs/cli.md,
// "Lock"): --lock flock -> FileLock in --log-dir; --lock lease -> Kubernetes
// Lease "ha-sync-<pair>"; --lock auto -> lease when KUBERNETES_SERVICE_HOST
// is set (we run in a pod), else flock. The lease holder is
// "<pod-name>/<run-id>" with the pod name from $HOSTNAME.
//
// A shard (--shard I/N, docs/cli.md "Shards") holds the pair's lock shared
// with the other shards of a run of N shards, then its own exclusively:
// with flock, io/shard_file_lock.h; with Leases (lock_group.h), the Lease
// "ha-sync-<pair>" with the holder SharedHolder() (never deleted: it
// expires TTL + margin after the last shard's renew), then the Lease
// "ha-sync-<pair>-<i>-of-<n>". Shards of a run work at once; an unsharded
// run and a sharded one, or runs of different N, of one pair exclude each
// other.
//
// Thread-safety: call from the main thread; the lock's own contract applies.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "cli/options.h"
#include "ha_sync/run_lock.h"
#include "ha_sync/status.h"
#include "k8s/kube_config.h"

namespace ha_sync::cli {

// "<pair>-<i>-of-<n>": the shard's own lock and Lease (after "ha-sync-").
std::string ShardLockName(const Options& options);
std::string ShardLockName(const std::string& pair, int shard_index, int shard_count);
// The holder identity every shard of a run of N shards writes into the pair's Lease.
std::string SharedHolder(const Options& options);

// "lease" or "flock".
std::string ResolveLockKind(const Options& options, const k8s::EnvLookup& env);

// The namespace of the lease: --lease-namespace, else the service-account
// namespace file in `sa_dir`, else "infrastructure".
std::string ResolveLeaseNamespace(const Options& options, const std::string& sa_dir);

// Fails (nothing touched) when the lease configuration is incomplete or the
// CA file cannot be loaded. `stop` interrupts the lease's acquire retries.
Result<std::unique_ptr<RunLock>> MakeRunLock(const Options& options, const std::string& run_id,
                                             const std::atomic<bool>* stop,
                                             const k8s::EnvLookup& env,
                                             const std::string& sa_dir = k8s::kServiceAccountDir);

}  // namespace ha_sync::cli
