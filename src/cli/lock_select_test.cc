#include "cli/lock_select.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <fstream>
#include <map>

#include "io/file_lock.h"
#include "io/uring_test_util.h"
#include "k8s/lease_lock.h"
#include "support/temp_dir.h"

namespace ha_sync::cli {

namespace {

k8s::EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

Options Parsed(std::vector<std::string> extra) {
  std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
  args.insert(args.end(), extra.begin(), extra.end());
  ParseResult r = ParseOptions(args, nullptr);
  REQUIRE(r.error.empty());
  return r.options;
}

}  // namespace

TEST_CASE("lock flags: defaults and validation") {
  const Options o = Parsed({});
  CHECK(o.lock == "auto");
  CHECK(o.lease_namespace.empty());
  CHECK(o.lease_skew_margin_seconds == 60);
  CHECK(o.lease_acquire_timeout_seconds == 30);
  const Options set = Parsed({"--lock", "lease", "--lease-namespace", "infra", "--lease-skew-margin", "5",
                              "--kube-api", "https://127.0.0.1:6443", "--kube-token-file", "/t", "--kube-ca", "/c",
                              "--lease-acquire-timeout", "2"});
  CHECK(set.lock == "lease");
  CHECK(set.lease_namespace == "infra");
  CHECK(set.lease_skew_margin_seconds == 5);
  CHECK(set.lease_acquire_timeout_seconds == 2);
  CHECK(set.kube_api == "https://127.0.0.1:6443");
  CHECK(set.kube_token_file == "/t");
  CHECK(set.kube_ca == "/c");

  auto error = [](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseOptions(args, nullptr).error;
  };
  CHECK(error({"--lock", "none"}).find("--lock") != std::string::npos);
  CHECK(error({"--lease-namespace", "Infra"}).find("--lease-namespace") != std::string::npos);
  CHECK(error({"--lease-namespace", "a.b"}).find("--lease-namespace") != std::string::npos);
  CHECK(error({"--lease-skew-margin", "-1"}).find("--lease-skew-margin") != std::string::npos);
  CHECK(error({"--lease-acquire-timeout", "0"}).find("--lease-acquire-timeout") != std::string::npos);
  CHECK(error({"--kube-api", "http://1.2.3.4"}).find("--kube-api") != std::string::npos);
}

TEST_CASE("pair names are DNS-1123 subdomains (they name the Lease)") {
  CHECK(IsValidPairName("media"));
  CHECK(IsValidPairName("a.b-c.d9"));
  CHECK_FALSE(IsValidPairName("a..b"));
  CHECK_FALSE(IsValidPairName("a.-b"));
  CHECK_FALSE(IsValidPairName("a-.b"));
  CHECK_FALSE(IsValidPairName("Media"));
  CHECK_FALSE(IsValidPairName("a_b"));
  CHECK(IsValidPairName(std::string(245, 'a')));
  CHECK_FALSE(IsValidPairName(std::string(246, 'a')));
}

TEST_CASE("a Lease flag is never ignored: auto takes the Lease for it, flock refuses it") {
  auto parse = [](std::vector<std::string> extra, const k8s::EnvLookup& env) {
    std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseOptions(args, env);
  };
  for (std::vector<std::string> flag : std::vector<std::vector<std::string>>{
           {"--kube-api", "https://127.0.0.1:6443"}, {"--kube-token-file", "/t"}, {"--kube-ca", "/c"},
           {"--lease-namespace", "infra"}, {"--lease-skew-margin", "5"}, {"--lease-acquire-timeout", "2"},
           {"--lock-ttl", "60"}}) {
    INFO(flag[0]);
    ParseResult automatic = parse(flag, Env({}));
    REQUIRE(automatic.error.empty());
    CHECK(ResolveLockKind(automatic.options, Env({})) == "lease");
    std::vector<std::string> with_flock = flag;
    with_flock.insert(with_flock.end(), {"--lock", "flock"});
    CHECK(parse(with_flock, Env({})).error == flag[0] + " is for the Kubernetes Lease lock; --lock flock would ignore it");
  }
  // Set but empty is not "outside a pod".
  ParseResult empty_host = parse({}, Env({{"KUBERNETES_SERVICE_HOST", ""}}));
  CHECK(empty_host.error.find("KUBERNETES_SERVICE_HOST is set but empty") != std::string::npos);
  CHECK(parse({"--lock", "flock"}, Env({{"KUBERNETES_SERVICE_HOST", ""}})).error.empty());
}

TEST_CASE("auto is the lease in a pod, flock elsewhere") {
  const Options o = Parsed({});
  CHECK(ResolveLockKind(o, Env({})) == "flock");
  CHECK(ResolveLockKind(o, Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}})) == "lease");
  CHECK(ResolveLockKind(Parsed({"--lock", "flock"}), Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}})) == "flock");
  CHECK(ResolveLockKind(Parsed({"--lock", "lease"}), Env({})) == "lease");

  auto flock = MakeRunLock(Parsed({}), "run1", nullptr, Env({}), "/nonexistent");
  REQUIRE(flock.ok());
  CHECK(dynamic_cast<io::FileLock*>(flock->get()) != nullptr);
}

TEST_CASE("the lease namespace: flag, else the service-account file, else infrastructure") {
  const ha_sync::testing::TempDir tmp;
  const std::string dir = tmp.path();
  CHECK(ResolveLeaseNamespace(Parsed({}), dir) == "infrastructure");
  std::ofstream(dir + "/namespace") << "storage\n";
  CHECK(ResolveLeaseNamespace(Parsed({}), dir) == "storage");
  CHECK(ResolveLeaseNamespace(Parsed({"--lease-namespace", "x"}), dir) == "x");
}

TEST_CASE("a lease without an API or with an unreadable CA fails before touching anything") {
  auto none = MakeRunLock(Parsed({"--lock", "lease"}), "run1", nullptr, Env({}), "/nonexistent");
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message().find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  auto no_ca = MakeRunLock(Parsed({"--lock", "lease", "--kube-api", "https://127.0.0.1:1", "--kube-ca", "/nonexistent/ca"}),
                           "run1", nullptr, Env({}), "/nonexistent");
  REQUIRE_FALSE(no_ca.ok());
  CHECK(no_ca.status().message().find("/nonexistent/ca") != std::string::npos);
  auto in_pod = MakeRunLock(Parsed({}), "run1", nullptr,
                            Env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
                            "/nonexistent");
  REQUIRE_FALSE(in_pod.ok());  // the in-cluster CA file is missing here
  CHECK(in_pod.status().message().find("/nonexistent/ca.crt") != std::string::npos);
}

}  // namespace ha_sync::cli

namespace ha_sync::cli {

TEST_CASE("flock: the shards of a run hold the pair together; unsharded runs and other shard counts are kept out") {
  io::testing::TempDir dir;
  auto lock = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ha-sync", "--src", "/srv/a", "--dest", "/srv/b", "--pair", "media",
                                     "--lock", "flock", "--log-dir", dir.path()};
    args.insert(args.end(), extra.begin(), extra.end());
    ParseResult r = ParseOptions(args, nullptr);
    REQUIRE(r.error.empty());
    auto made = MakeRunLock(r.options, "run", nullptr, Env({}), "/nonexistent");
    REQUIRE(made.ok());
    return std::move(*made);
  };
  using Outcome = RunLock::Outcome;
  auto s0 = lock({"--shard", "0/2", "--run-group", "g"});
  auto s1 = lock({"--shard", "1/2", "--run-group", "g"});
  CHECK(s0->Acquire().outcome == Outcome::kAcquired);
  CHECK(s1->Acquire().outcome == Outcome::kAcquired);
  CHECK(lock({})->Acquire().outcome == Outcome::kHeldByOther);                                // unsharded
  CHECK(lock({"--shard", "0/3", "--run-group", "h"})->Acquire().outcome == Outcome::kHeldByOther);  // other N
  const auto again = lock({"--shard", "1/2", "--run-group", "h"})->Acquire();                 // same shard twice
  CHECK(again.outcome == Outcome::kHeldByOther);
  CHECK(again.holder.find("run=run") != std::string::npos);
  CHECK(s0->Release().ok());
  CHECK(lock({})->Acquire().outcome == Outcome::kHeldByOther);  // shard 1 still works
  CHECK(s1->Release().ok());
  // All released: an unsharded run takes the pair, and keeps every shard out.
  auto plain = lock({});
  CHECK(plain->Acquire().outcome == Outcome::kAcquired);
  CHECK(lock({"--shard", "0/2", "--run-group", "g"})->Acquire().outcome == Outcome::kHeldByOther);
  CHECK(plain->Release().ok());
  auto s3 = lock({"--shard", "2/3", "--run-group", "h"});
  CHECK(s3->Acquire().outcome == Outcome::kAcquired);  // a run of 3 now, the marks of 2 are free
  CHECK(lock({"--shard", "0/2", "--run-group", "g"})->Acquire().outcome == Outcome::kHeldByOther);
}

TEST_CASE("lease names of a shard") {
  ParseResult r = ParseOptions({"ha-sync", "--src", "/a", "--dest", "/b", "--pair", "photos", "--shard", "3/4",
                                "--run-group", "g"},
                               nullptr);
  REQUIRE(r.error.empty());
  CHECK(ShardLockName(r.options) == "photos-3-of-4");
  CHECK(SharedHolder(r.options) == "sharded-run/4-shards");
}

}  // namespace ha_sync::cli
