#include "k8s/kube_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace ha_sync::k8s {

namespace {

bool IsIpv4(const std::string& host) {
  in_addr a;
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool IsIpv6(const std::string& host) {
  in6_addr a;
  return ::inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

bool IsValidPort(std::string_view port) {
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  const int value = std::stoi(std::string(port));
  return value >= 1 && value <= 65535;
}

bool IsValidDnsHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return host.front() != '.' && host.front() != '-';
}

Result<ApiEndpoint> MakeEndpoint(std::string host, std::string port, std::string_view what) {
  ApiEndpoint ep;
  if (IsIpv6(host)) {
    ep.host_is_ip = true;
  } else if (IsIpv4(host)) {
    ep.host_is_ip = true;
  } else if (!IsValidDnsHost(host)) {
    return Status::Error(std::string(what) + ": '" + host + "' is not a host name or IP address");
  }
  if (!IsValidPort(port)) return Status::Error(std::string(what) + ": '" + port + "' is not a port");
  ep.host = std::move(host);
  ep.port = std::move(port);
  return ep;
}

}  // namespace

std::string ApiEndpoint::HostPort() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

Result<ApiEndpoint> ParseApiUrl(std::string_view url) {
  const std::string what = "--kube-api '" + std::string(url) + "'";
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::Error(what + " must start with https://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return Status::Error(what + " must be https://HOST[:PORT] without a path or user");
  }
  std::string host, port = "443";
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return Status::Error(what + ": unclosed '['");
    host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::Error(what + ": unexpected text after ']'");
      port = std::string(after.substr(1));
    }
    if (!IsIpv6(host)) return Status::Error(what + ": '" + host + "' is not an IPv6 address");
  } else {
    const size_t colon = rest.find(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = std::string(rest.substr(colon + 1));
    if (IsIpv6(host)) return Status::Error(what + ": an IPv6 address must be in brackets");
  }
  return MakeEndpoint(std::move(host), std::move(port), what);
}

bool InCluster(const EnvLookup& env) {
  const char* host = env("KUBERNETES_SERVICE_HOST");
  const char* port = env("KUBERNETES_SERVICE_PORT");
  return host != nullptr && *host != '\0' && port != nullptr && *port != '\0';
}

Result<KubeConfig> ResolveKubeConfig(const KubeFlags& flags, const EnvLookup& env,
                                     const std::string& sa_dir) {
  KubeConfig config;
  if (!flags.api_url.empty()) {
    auto ep = ParseApiUrl(flags.api_url);
    if (!ep.ok()) return ep.status();
    config.endpoint = *ep;
  } else if (InCluster(env)) {
    auto ep = MakeEndpoint(env("KUBERNETES_SERVICE_HOST"), env("KUBERNETES_SERVICE_PORT"),
                           "KUBERNETES_SERVICE_HOST/PORT");
    if (!ep.ok()) return ep.status();
    config.endpoint = *ep;
  } else {
    const char* host = env("KUBERNETES_SERVICE_HOST");
    const bool host_set = host != nullptr && *host != '\0';
    return Status::Error(std::string("no Kubernetes API: ") +
                         (host_set ? "KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not "
                                     "(or empty)"
                                   : "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not set (not in a pod)") +
                         " and --kube-api is not given");
  }
  config.token_file = flags.token_file.empty() ? sa_dir + "/token" : flags.token_file;
  config.ca_file = flags.ca_file.empty() ? sa_dir + "/ca.crt" : flags.ca_file;
  return config;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open", path);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) {
      ::close(fd);
      return Status::Error("read '" + path + "': file is larger than 1 MiB");
    }
  }
  ::close(fd);
  return out;
}

std::string TrimWhitespace(std::string_view text) {
  const char* ws = " \t\r\n\v\f";
  const size_t begin = text.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(ws);
  return std::string(text.substr(begin, end - begin + 1));
}

std::optional<std::string> ReadServiceAccountNamespace(const std::string& sa_dir) {
  auto content = ReadSmallFile(sa_dir + "/namespace");
  if (!content.ok()) return std::nullopt;
  std::string ns = TrimWhitespace(*content);
  if (ns.empty()) return std::nullopt;
  return ns;
}

}  // namespace ha_sync::k8s
