// Where the Kubernetes API is and how to authenticate to it.
//  - In a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
//    (an IPv6 host is bracketed in the URL), the service-account token,
//    CA and namespace files under kServiceAccountDir.
//  - Outside a cluster: --kube-api URL --kube-token-file F --kube-ca F.
// Either file flag also overrides the in-cluster file.
//
// Thread-safety: plain values and pure functions (they read the environment
// through the lookup passed in, and files).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ha_sync/env_lookup.h"
#include "ha_sync/status.h"

namespace ha_sync::k8s {

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ApiEndpoint {
  std::string host;  // DNS name or IP literal, IPv6 without brackets
  std::string port;  // decimal
  bool host_is_ip = false;

  // "host:port" with an IPv6 host bracketed: the Host header and URL part.
  std::string HostPort() const;
  std::string Url() const { return "https://" + HostPort(); }
};

// Accepts "https://HOST[:PORT][/]" with HOST a DNS name, an IPv4 literal or a
// bracketed IPv6 literal; PORT defaults to 443. No user info, no path.
Result<ApiEndpoint> ParseApiUrl(std::string_view url);

struct KubeConfig {
  ApiEndpoint endpoint;
  std::string token_file;
  std::string ca_file;
};

struct KubeFlags {
  std::string api_url;     // --kube-api
  std::string token_file;  // --kube-token-file
  std::string ca_file;     // --kube-ca
};

using ha_sync::EnvLookup;

// True when KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are both set
// and non-empty (client-go's test for "in cluster").
bool InCluster(const EnvLookup& env);

// --kube-api when given, else the in-cluster environment (an error when
// neither is there). Files: the flags, else `sa_dir`/token and `sa_dir`/ca.crt.
Result<KubeConfig> ResolveKubeConfig(const KubeFlags& flags, const EnvLookup& env,
                                     const std::string& sa_dir = kServiceAccountDir);

// The pod's namespace from `sa_dir`/namespace (trimmed), if readable and non-empty.
std::optional<std::string> ReadServiceAccountNamespace(const std::string& sa_dir = kServiceAccountDir);

// Whole-file read, for small files (tokens, namespace).
Result<std::string> ReadSmallFile(const std::string& path);
std::string TrimWhitespace(std::string_view text);

}  // namespace ha_sync::k8s
