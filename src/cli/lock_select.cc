#include "cli/lock_select.h"

#include <unistd.h>

#include <cstdio>

#include "io/file_lock.h"
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

Result<std::unique_ptr<RunLock>> MakeRunLock(const Options& options, const std::string& run_id,
                                             const std::atomic<bool>* stop, const k8s::EnvLookup& env,
                                             const std::string& sa_dir) {
  if (ResolveLockKind(options, env) == "flock") {
    return std::unique_ptr<RunLock>(std::make_unique<io::FileLock>(options.log_dir, options.pair, run_id));
  }
  k8s::KubeFlags flags{options.kube_api, options.kube_token_file, options.kube_ca};
  auto config = k8s::ResolveKubeConfig(flags, env, sa_dir);
  if (!config.ok()) return config.status();

  k8s::LeaseLockConfig lease;
  lease.namespace_name = ResolveLeaseNamespace(options, sa_dir);
  lease.lease_name = "ha-sync-" + options.pair;
  lease.holder_identity = PodName(env) + "/" + run_id;
  lease.ttl = std::chrono::seconds(options.lock_ttl_seconds);
  lease.skew_margin = std::chrono::seconds(options.lease_skew_margin_seconds);
  lease.acquire_timeout = std::chrono::seconds(options.lease_acquire_timeout_seconds);
  lease.log = [](const std::string& message) { std::fprintf(stderr, "ha-sync: %s\n", message.c_str()); };

  const k8s::LeaseTimings timings = k8s::ComputeLeaseTimings(lease.ttl, lease.skew_margin);
  auto http = k8s::HttpsClient::Create(config->endpoint, config->ca_file,
                                       k8s::HttpTimeouts{timings.request_timeout, timings.request_timeout},
                                       std::string("ha-sync/") + HA_SYNC_VERSION + " (linux) lease-lock");
  if (!http.ok()) return http.status();
  auto api = std::make_unique<k8s::ApiClient>(std::move(*http), config->token_file);
  return std::unique_ptr<RunLock>(std::make_unique<k8s::LeaseLock>(std::move(api), std::move(lease), stop));
}

}  // namespace ha_sync::cli
