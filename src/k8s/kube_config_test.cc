#include "k8s/kube_config.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "k8s/lease_lock.h"
#include "k8s/token_source.h"
#include "support/temp_dir.h"

namespace ha_sync::k8s {

namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

using ha_sync::testing::TempDir;  // support/temp_dir.h

void Write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::trunc) << content;
}

}  // namespace

TEST_CASE("API URLs: DNS names, IPv4, bracketed IPv6, default port") {
  auto a = ParseApiUrl("https://api.example.com:6443");
  REQUIRE(a.ok());
  CHECK(a->host == "api.example.com");
  CHECK(a->port == "6443");
  CHECK_FALSE(a->host_is_ip);
  CHECK(a->Url() == "https://api.example.com:6443");

  auto b = ParseApiUrl("https://10.96.0.1/");
  REQUIRE(b.ok());
  CHECK(b->host == "10.96.0.1");
  CHECK(b->port == "443");
  CHECK(b->host_is_ip);

  auto c = ParseApiUrl("https://[fd00::1]:443");
  REQUIRE(c.ok());
  CHECK(c->host == "fd00::1");
  CHECK(c->host_is_ip);
  CHECK(c->HostPort() == "[fd00::1]:443");

  for (const char* bad : {"http://1.2.3.4", "https://", "https://fd00::1:443", "https://[fd00::1",
                          "https://h:0", "https://h:99999", "https://h:x", "https://h/api",
                          "https://u@h", "https://h_x:1", "1.2.3.4:443"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseApiUrl(bad).ok());
  }
}

TEST_CASE("in-cluster config comes from the environment and the service-account dir") {
  CHECK_FALSE(InCluster(Env({})));
  CHECK_FALSE(InCluster(Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}})));
  CHECK_FALSE(InCluster(Env({{"KUBERNETES_SERVICE_HOST", ""}, {"KUBERNETES_SERVICE_PORT", "443"}})));
  CHECK(InCluster(Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}})));

  auto v6 = ResolveKubeConfig({}, Env({{"KUBERNETES_SERVICE_HOST", "fd00:10:96::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
                              "/sa");
  REQUIRE(v6.ok());
  CHECK(v6->endpoint.Url() == "https://[fd00:10:96::1]:443");
  CHECK(v6->endpoint.host_is_ip);
  CHECK(v6->token_file == "/sa/token");
  CHECK(v6->ca_file == "/sa/ca.crt");

  // Flags win; each file flag overrides its in-cluster file.
  auto flags = ResolveKubeConfig({"https://127.0.0.1:6443", "/t", ""}, Env({}), "/sa");
  REQUIRE(flags.ok());
  CHECK(flags->endpoint.Url() == "https://127.0.0.1:6443");
  CHECK(flags->token_file == "/t");
  CHECK(flags->ca_file == "/sa/ca.crt");

  auto none = ResolveKubeConfig({}, Env({}), "/sa");
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("--kube-api") != std::string::npos);
  CHECK(none.status().message().find("are not set (not in a pod)") != std::string::npos);
  // HOST set, PORT empty: the message does not call HOST unset.
  auto half = ResolveKubeConfig({}, Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", ""}}), "/sa");
  REQUIRE_FALSE(half.ok());
  CHECK(half.status().message().find("KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not") !=
        std::string::npos);
  CHECK_FALSE(ResolveKubeConfig({}, Env({{"KUBERNETES_SERVICE_HOST", "bad host"}, {"KUBERNETES_SERVICE_PORT", "443"}}))
                  .ok());
}

TEST_CASE("the namespace file is trimmed; missing or empty means none") {
  TempDir dir;
  CHECK_FALSE(ReadServiceAccountNamespace(dir.path()).has_value());
  Write(dir.path() + "/namespace", "  \n");
  CHECK_FALSE(ReadServiceAccountNamespace(dir.path()).has_value());
  Write(dir.path() + "/namespace", "infra-2\n");
  CHECK(ReadServiceAccountNamespace(dir.path()) == "infra-2");
}

TEST_CASE("the token is re-read after max_age or Invalidate, trimmed, and kept when the file vanishes") {
  TempDir dir;
  const std::string file = dir.path() + "/token";
  TokenSource missing(file);
  auto none = missing.Token();
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find(file) != std::string::npos);

  Write(file, "  one\n");
  TokenSource tokens(file, std::chrono::hours(1));
  CHECK(*tokens.Token() == "one");
  Write(file, "two\n");
  CHECK(*tokens.Token() == "one");  // cached
  tokens.Invalidate();
  CHECK(*tokens.Token() == "two");
  ::unlink(file.c_str());
  tokens.Invalidate();
  CHECK(*tokens.Token() == "two");  // a failed re-read keeps the last good token

  TokenSource fresh(file, std::chrono::milliseconds(0));
  Write(file, "three");
  CHECK(*fresh.Token() == "three");
  Write(file, "four");
  CHECK(*fresh.Token() == "four");  // max_age 0: every call reads the file
}

TEST_CASE("lease timings follow the TTL and the skew margin") {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  const LeaseTimings prod = ComputeLeaseTimings(seconds(3600), seconds(60));
  CHECK(prod.renew_interval == seconds(1200));
  CHECK(prod.fence_margin == seconds(360));  // TTL/10 beats a 60 s skew margin
  CHECK(prod.retry_interval == seconds(5));
  CHECK(prod.request_timeout == seconds(10));
  const LeaseTimings mid = ComputeLeaseTimings(seconds(300), seconds(60));
  CHECK(mid.fence_margin == seconds(60));
  const LeaseTimings tiny = ComputeLeaseTimings(seconds(3), seconds(60));
  CHECK(tiny.renew_interval == milliseconds(1000));
  CHECK(tiny.fence_margin == milliseconds(1500));  // capped at TTL/2
  CHECK(tiny.retry_interval == milliseconds(200));
  CHECK(tiny.request_timeout == milliseconds(1000));
}

}  // namespace ha_sync::k8s
