#include "cli/lock_select.h"

#include <unistd.h>

#include <cstdio>
#include <optional>

#include "cli/lock_group.h"
#include "io/file_lock.h"
#include "io/shard_file_lock.h"
#include "k8s/lease_lock.h"

namespace ha_sync::cli {

namespace {

std::string PodName(const k8s::EnvLookup& env) {
  if (const char* host = env("HOSTNAME"); host != nullptr && *host != '\0') return host;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') return buf;
  return "unknown-host";
}

}  // namespace

std::string ResolveLockKind(const Options& options, const k8s::EnvLookup& env) {
  if (options.lock != "auto") return options.lock;
  const char* host = env("KUBERNETES_SERVICE_HOST");
  return host != nullptr && *host != '\0' ? "lease" : "flock";
}

std::string ResolveLeaseNamespace(const Options& options, const std::string& sa_dir) {
  if (!options.lease_namespace.empty()) return options.lease_namespace;
  if (auto ns = k8s::ReadServiceAccountNamespace(sa_dir)) return *ns;
  return "infrastructure";
}

std::string ShardLockName(const std::string& pair, int shard_index, int shard_count) {
  return pair + "-" + std::to_string(shard_index) + "-of-" + std::to_string(shard_count);
}

std::string ShardLockName(const Options& options) {
  return ShardLockName(options.pair, options.shard_index, options.shard_count);
}

std::string SharedHolder(const Options& options) {
  return "sharded-run/" + std::to_string(options.shard_count) + "-shards";
}

namespace {

// One Lease lock on its own API connection.
Result<std::unique_ptr<RunLock>> MakeLease(const Options& options, const k8s::KubeConfig& config,
                                           const std::string& sa_dir, std::string name,
                                           std::string holder,
                                           std::optional<std::vector<std::string>> shared_by,
                                           const std::atomic<bool>* stop) {
  k8s::LeaseLockConfig lease;
  lease.namespace_name = ResolveLeaseNamespace(options, sa_dir);
  lease.lease_name = std::move(name);
  lease.holder_identity = std::move(holder);
  // Shared (the pair's lease of a sharded run) when the leases using it are given.
  lease.shared = shared_by.has_value();
  if (shared_by) lease.shared_by = std::move(*shared_by);
  lease.ttl = std::chrono::seconds(options.lock_ttl_seconds);
  lease.skew_margin = std::chrono::seconds(options.lease_skew_margin_seconds);
  lease.acquire_timeout = std::chrono::seconds(options.lease_acquire_timeout_seconds);
  lease.log = [](const std::string& message) { std::fprintf(stderr, "ha-sync: %s\n", message.c_str()); };

  const k8s::LeaseTimings timings = k8s::ComputeLeaseTimings(lease.ttl, lease.skew_margin);
  auto http = k8s::HttpsClient::Create(config.endpoint, config.ca_file,
                                       k8s::HttpTimeouts{timings.request_timeout, timings.request_timeout},
                                       std::string("ha-sync/") + HA_SYNC_VERSION + " (linux) lease-lock");
  if (!http.ok()) return http.status();
  auto api = std::make_unique<k8s::ApiClient>(std::move(*http), config.token_file);
  return std::unique_ptr<RunLock>(std::make_unique<k8s::LeaseLock>(std::move(api), std::move(lease), stop));
}

}  // namespace

Result<std::unique_ptr<RunLock>> MakeRunLock(const Options& options, const std::string& run_id,
                                             const std::atomic<bool>* stop, const k8s::EnvLookup& env,
                                             const std::string& sa_dir) {
  const bool sharded = options.shard_count > 1;
  if (ResolveLockKind(options, env) == "flock") {
    if (!sharded) {
      return std::unique_ptr<RunLock>(std::make_unique<io::FileLock>(options.log_dir, options.pair, run_id));
    }
    return std::unique_ptr<RunLock>(std::make_unique<io::ShardFileLock>(
        options.log_dir, options.pair, options.shard_index, options.shard_count, run_id));
  }
  k8s::KubeFlags flags{options.kube_api, options.kube_token_file, options.kube_ca};
  auto config = k8s::ResolveKubeConfig(flags, env, sa_dir);
  if (!config.ok()) return config.status();
  const std::string holder = PodName(env) + "/" + run_id;
  if (!sharded) return MakeLease(options, *config, sa_dir, "ha-sync-" + options.pair, holder, std::nullopt, stop);
  // The shard's own lease, then the pair's, shared by every shard of a run
  // of as many shards (an unsharded run, or one of another shard count,
  // finds it held). Own first: the last shard out deletes the shared lease,
  // which is safe only in this order (src/k8s/lease_lock.h).
  std::vector<std::unique_ptr<RunLock>> locks;
  auto own = MakeLease(options, *config, sa_dir, "ha-sync-" + ShardLockName(options), holder, std::nullopt, stop);
  if (!own.ok()) return own.status();
  locks.push_back(std::move(*own));
  std::vector<std::string> shard_leases;
  for (int i = 0; i < options.shard_count; ++i) {
    shard_leases.push_back("ha-sync-" + ShardLockName(options.pair, i, options.shard_count));
  }
  auto pair = MakeLease(options, *config, sa_dir, "ha-sync-" + options.pair, SharedHolder(options),
                        std::move(shard_leases), stop);
  if (!pair.ok()) return pair.status();
  locks.push_back(std::move(*pair));
  return std::unique_ptr<RunLock>(std::make_unique<LockGroup>(std::move(locks)));
}

}  // namespace ha_sync::cli
