// The built ha-sync binary with --lock lease against the fake API server.
// Runs that must still be going when something happens to the lease copy a
// big sparse file (no disk space in src; reading, hashing and writing 4 GiB
// takes seconds on any machine). They are ended by that event (fencing,
// SIGTERM), not by finishing, and the copy is aborted mid-file.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <regex>
#include <thread>

#include "fake_api_harness.h"

namespace ha_sync::test {

namespace json = boost::json;

namespace {

constexpr char kLeaseName[] = "ha-sync-media";
constexpr char kItem[] = "/leases/ha-sync-media";
const std::vector<std::string> kPodEnv = {"HOSTNAME=pod-test-1"};

struct Trees {
  TempDir dir;
  std::string src = dir / "src";
  std::string dest = dir / "dest";
  std::string logs = dir / "logs";
  Trees() {
    for (const auto& d : {src, dest, logs}) REQUIRE(::mkdir(d.c_str(), 0755) == 0);
  }
  // Creates `n` files of `size` bytes in a few subdirectories of src.
  void Fill(int n, size_t size = 16) {
    for (int d = 0; d < 10; ++d) ::mkdir((src + "/d" + std::to_string(d)).c_str(), 0755);
    for (int i = 0; i < n; ++i) {
      WriteFile(src + "/d" + std::to_string(i % 10) + "/f" + std::to_string(i), std::string(size, 'a' + i % 26));
    }
  }
  // A sparse file of `bytes` in src: instant to create, slow to copy.
  void Big(const std::string& name, off_t bytes) {
    const int fd = ::open((src + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, bytes) == 0);
    ::close(fd);
  }
};

std::vector<std::string> Args(const FakeKubeApi& fake, const Trees& t, std::vector<std::string> extra = {},
                              int ttl = 5) {
  std::vector<std::string> args = {"--src", t.src, "--dest", t.dest, "--pair", "media", "--log-dir", t.logs,
                                   "--no-progress", "--lock", "lease", "--kube-api", fake.url(),
                                   "--kube-token-file", fake.token_file(), "--kube-ca", Certs().ca,
                                   "--lock-ttl", std::to_string(ttl), "--lease-skew-margin", "1",
                                   // These tests read each run's opslog and count dest files:
                                   // an unreachable store keeps the opslog (the audit suite
                                   // covers storing), and no trash means no undo manifest.
                                   "--db-dsn", "sqlite://" + t.logs + "/no-such-dir/audit.db",
                                   "--trash-retain-days", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

constexpr off_t kBig = off_t{4} << 30;

std::vector<std::string> Opslogs(const std::string& logs) {
  std::vector<std::string> out;
  for (const auto& f : FilesUnder(logs)) {
    if (f.rfind("opslog-", 0) == 0) out.push_back(logs + "/" + f);
  }
  return out;
}

json::object Footer(const std::string& logs) {
  auto files = Opslogs(logs);
  REQUIRE(files.size() == 1);
  std::string text = ReadFile(files[0]);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const std::string last = text.substr(text.rfind('\n') + 1);
  json::object footer = json::parse(last).as_object();
  REQUIRE(Str(footer.at("type")) == "footer");
  return footer;
}

std::vector<std::string> TempFiles(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& f : FilesUnder(root)) {
    const std::string name = f.substr(f.rfind('/') + 1);
    if (name.rfind(".ha-sync.", 0) == 0) out.push_back(f);
  }
  return out;
}

bool PostWon(const json::array& log) {
  for (const auto& p : Requests(log, "POST")) {
    if (p.at("code") == 201) return true;
  }
  return false;
}

// Waits until the run holds the lease and is copying the big file.
void WaitUntilCopying(FakeKubeApi& fake, const Trees& t) {
  const bool won = fake.WaitForLog(PostWon);
  INFO(Summary(fake.Log()));
  REQUIRE(won);
  for (int i = 0; i < 3000 && TempFiles(t.dest).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE_FALSE(TempFiles(t.dest).empty());
}

// After a run stopped mid-copy: the big file never arrived, no temp file is left.
void CheckStoppedMidCopy(const Trees& t) {
  CHECK(FilesUnder(t.dest).empty());
}

}  // namespace

TEST_CASE("a run takes the lease, syncs, and releases it by a conditional DELETE") {
  FakeKubeApi fake;
  Trees t;
  t.Fill(5);
  RunOutput r = RunHaSync(Args(fake, t), kPodEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(FilesUnder(t.dest).size() == 5);
  const json::array log = fake.Log();
  auto posts = Requests(log, "POST");
  REQUIRE(posts.size() == 1);
  const std::string holder = Str(*Path(posts[0].at("body"), {"spec", "holderIdentity"}));
  CHECK(std::regex_match(holder, std::regex("pod-test-1/[0-9a-f]{32}")));
  CHECK(*Path(posts[0].at("body"), {"spec", "leaseDurationSeconds"}) == 5);
  auto deletes = Requests(log, "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0].at("code") == 200);
  CHECK_FALSE(Str(*Path(deletes[0].at("body"), {"preconditions", "uid"})).empty());
  CHECK_FALSE(Str(*Path(deletes[0].at("body"), {"preconditions", "resourceVersion"})).empty());
  CHECK_FALSE(fake.Lease(kLeaseName).has_value());
  // The holder's run id is the run's id in the opslog header.
  const std::string opslog = ReadFile(Opslogs(t.logs).at(0));
  CHECK(opslog.find(holder.substr(holder.find('/') + 1)) != std::string::npos);
}

TEST_CASE("a lease held by a live run: exit 0, say who holds it, touch nothing") {
  FakeKubeApi fake;
  fake.PutLease(kLeaseName, "pod-other/run-7", 600, 1);
  Trees t;
  t.Fill(3);
  RunOutput r = RunHaSync(Args(fake, t), kPodEnv);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("locked by another run") != std::string::npos);
  CHECK(r.out.find("pod-other/run-7") != std::string::npos);
  CHECK(r.out.find(" since ") != std::string::npos);
  CHECK(FilesUnder(t.dest).empty());
  CHECK(Opslogs(t.logs).empty());
  for (const auto& e : fake.Log()) CHECK(Str(e.at("method")) == "GET");

  // Once the holder stops renewing (its renewTime falls behind), the next run takes over.
  fake.Op({{"op", "expire"}, {"name", kLeaseName}, {"seconds", 700}});
  RunOutput next = RunHaSync(Args(fake, t), kPodEnv);
  INFO(next.err);
  CHECK(next.exit_code == 0);
  CHECK(FilesUnder(t.dest).size() == 3);
}

TEST_CASE("an expired holder's lease is taken over and the run syncs") {
  FakeKubeApi fake;
  fake.PutLease(kLeaseName, "pod-crashed/run-1", 60, 3600, 2);
  Trees t;
  t.Fill(2);
  RunOutput r = RunHaSync(Args(fake, t), kPodEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(FilesUnder(t.dest).size() == 2);
  auto puts = Requests(fake.Log(), "PUT", kItem);
  REQUIRE_FALSE(puts.empty());
  CHECK(*Path(puts[0].at("body"), {"spec", "leaseTransitions"}) == 3);
  CHECK(r.err.find("pod-crashed/run-1") != std::string::npos);  // logged: taking over from ...
}

TEST_CASE("two runs racing for one pair: exactly one syncs") {
  FakeKubeApi fake;
  Trees t;
  t.Fill(20);
  t.Big("big", off_t{256} << 20);  // keeps the winner busy while the loser looks
  Running a = StartHaSync(Args(fake, t), {"HOSTNAME=pod-a"});
  Running b = StartHaSync(Args(fake, t), {"HOSTNAME=pod-b"});
  RunOutput ra = WaitHaSync(a);
  RunOutput rb = WaitHaSync(b);
  INFO(ra.err);
  INFO(rb.err);
  CHECK(ra.exit_code == 0);
  CHECK(rb.exit_code == 0);
  const bool a_synced = ra.out.find(": success;") != std::string::npos;
  const bool b_synced = rb.out.find(": success;") != std::string::npos;
  CHECK(a_synced != b_synced);
  CHECK((a_synced ? rb : ra).out.find("locked by another run") != std::string::npos);
  CHECK(Opslogs(t.logs).size() == 1);
  CHECK(FilesUnder(t.dest).size() == 21);
}

TEST_CASE("API unreachable at start: nothing touched, exit 1") {
  Trees t;
  t.Fill(3);
  FakeKubeApi fake;  // for its token file only; the URL points elsewhere
  std::vector<std::string> args = Args(fake, t, {"--lease-acquire-timeout", "1"});
  std::replace(args.begin(), args.end(), fake.url(), std::string("https://127.0.0.1:1"));
  RunOutput r = RunHaSync(args, kPodEnv);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot reach the Kubernetes API") != std::string::npos);
  CHECK(FilesUnder(t.dest).empty());
  CHECK(Opslogs(t.logs).empty());
}

TEST_CASE("TLS verification failures refuse to run") {
  Trees t;
  t.Fill(1);
  FakeKubeApi fake;
  std::vector<std::string> args = Args(fake, t);
  std::replace(args.begin(), args.end(), Certs().ca, Certs().other_ca);
  RunOutput r = RunHaSync(args, kPodEnv);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not trusted by the CA file") != std::string::npos);
  CHECK(FilesUnder(t.dest).empty());
}

TEST_CASE("RBAC denial: a clear message, exit 1, nothing touched") {
  FakeKubeApi fake;
  fake.Op({{"op", "deny"}, {"verbs", json::array{"create"}}});
  Trees t;
  t.Fill(1);
  RunOutput r = RunHaSync(Args(fake, t), kPodEnv);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("refused to create leases.coordination.k8s.io in namespace \"infrastructure\"") !=
        std::string::npos);
  CHECK(r.err.find("get, create, update and delete") != std::string::npos);
  CHECK(FilesUnder(t.dest).empty());
}

TEST_CASE("the lease is taken in dry-run too") {
  FakeKubeApi fake;
  Trees t;
  t.Fill(2);
  RunOutput r = RunHaSync(Args(fake, t, {"--dry-run"}), kPodEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(FilesUnder(t.dest).empty());
  const json::array log = fake.Log();
  CHECK(Requests(log, "POST").size() == 1);
  CHECK(Requests(log, "DELETE", kItem).size() == 1);
}

TEST_CASE("--lock auto uses the lease in a pod, from the in-cluster environment") {
  FakeKubeApi fake;
  Trees t;
  t.Fill(1);
  std::vector<std::string> args = {"--src", t.src, "--dest", t.dest, "--pair", "media", "--log-dir", t.logs,
                                   "--no-progress", "--kube-token-file", fake.token_file(), "--kube-ca", Certs().ca,
                                   "--lease-namespace", "default"};
  RunOutput r = RunHaSync(args, {"HOSTNAME=pod-auto", "KUBERNETES_SERVICE_HOST=127.0.0.1",
                                 "KUBERNETES_SERVICE_PORT=" + std::to_string(fake.port())});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto posts = Requests(fake.Log(), "POST", "/namespaces/default/leases");
  REQUIRE(posts.size() == 1);
  CHECK(Str(*Path(posts[0].at("body"), {"spec", "holderIdentity"})).rfind("pod-auto/", 0) == 0);
  // Outside a pod, auto means flock: no request at all.
  FakeKubeApi quiet;
  Trees t2;
  t2.Fill(1);
  RunOutput r2 = RunHaSync({"--src", t2.src, "--dest", t2.dest, "--pair", "media", "--log-dir", t2.logs,
                            "--no-progress"});
  CHECK(r2.exit_code == 0);
  CHECK(FilesUnder(t2.logs).size() >= 1);
  CHECK(quiet.Log().empty());
}

TEST_CASE("a bad pair name is a usage error") {
  FakeKubeApi fake;
  Trees t;
  std::vector<std::string> args = Args(fake, t);
  std::replace(args.begin(), args.end(), std::string("media"), std::string("a..b"));
  CHECK(RunHaSync(args).exit_code == 64);
  CHECK(fake.Log().empty());
}

TEST_CASE("API unreachable mid-run: fencing stops the writes; the run fails with the reason") {
  FakeKubeApi fake;
  Trees t;
  t.Big("big", kBig);
  // TTL 2 s, margin 1 s: writes stop 1 s after the last successful renew.
  Running run = StartHaSync(Args(fake, t, {}, 2), kPodEnv);
  WaitUntilCopying(fake, t);
  fake.Op({{"op", "down"}});
  RunOutput r = WaitHaSync(run);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("lock lost") != std::string::npos);
  CHECK(r.err.find("not renewed in time") != std::string::npos);
  CheckStoppedMidCopy(t);
  const json::object footer = Footer(t.logs);
  CHECK(Str(footer.at("status")) == "failed");
  CHECK(Str(footer.at("error_message")).find("lock lost") != std::string::npos);
}

TEST_CASE("SIGTERM stops the run and releases the lease with preconditions") {
  FakeKubeApi fake;
  Trees t;
  t.Big("big", kBig);
  Running run = StartHaSync(Args(fake, t), kPodEnv);
  WaitUntilCopying(fake, t);
  const json::object held = *fake.Lease(kLeaseName);
  ::kill(run.pid, SIGTERM);
  RunOutput r = WaitHaSync(run);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CheckStoppedMidCopy(t);
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0].at("code") == 200);
  CHECK(*Path(deletes[0].at("body"), {"preconditions", "uid"}) == *Path(held, {"metadata", "uid"}));
  CHECK_FALSE(Str(*Path(deletes[0].at("body"), {"preconditions", "resourceVersion"})).empty());
  CHECK_FALSE(fake.Lease(kLeaseName).has_value());
  CHECK(Str(Footer(t.logs).at("status")) == "failed");
}

TEST_CASE("the lease taken over mid-run: writes stop, the new holder's lease is left alone") {
  FakeKubeApi fake;
  Trees t;
  t.Big("big", kBig);
  Running run = StartHaSync(Args(fake, t, {}, 3), kPodEnv);
  WaitUntilCopying(fake, t);
  fake.Op({{"op", "take_over"}, {"name", kLeaseName}, {"holder", "pod-thief/run-x"}});
  RunOutput r = WaitHaSync(run);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("taken over") != std::string::npos);
  CHECK(r.err.find("pod-thief/run-x") != std::string::npos);
  CheckStoppedMidCopy(t);
  CHECK(Requests(fake.Log(), "DELETE").empty());
  CHECK(Str(*Path(*fake.Lease(kLeaseName), {"spec", "holderIdentity"})) == "pod-thief/run-x");
}

TEST_CASE("the lease deleted mid-run: writes stop, the lease is not re-created") {
  FakeKubeApi fake;
  Trees t;
  t.Big("big", kBig);
  Running run = StartHaSync(Args(fake, t, {}, 3), kPodEnv);
  WaitUntilCopying(fake, t);
  fake.Op({{"op", "delete"}, {"name", kLeaseName}});
  RunOutput r = WaitHaSync(run);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("deleted") != std::string::npos);
  CheckStoppedMidCopy(t);
  CHECK_FALSE(fake.Lease(kLeaseName).has_value());
  CHECK(Requests(fake.Log(), "POST").size() == 1);
}

TEST_CASE("a token rotated on disk while running is picked up") {
  FakeKubeApi fake;
  Trees t;
  t.Big("big", kBig);
  Running run = StartHaSync(Args(fake, t, {}, 3), kPodEnv);
  WaitUntilCopying(fake, t);
  fake.Op({{"op", "rotate_token"}, {"token", "token-rotated"}, {"revoke_old", true}});
  const bool renewed = fake.WaitForLog([](const json::array& l) {
    for (const auto& p : Requests(l, "PUT", kItem)) {
      if (p.at("code") == 200 && Str(p.at("token")) == "token-rotated") return true;
    }
    return false;
  });
  ::kill(run.pid, SIGTERM);
  RunOutput r = WaitHaSync(run);
  INFO(r.err);
  CHECK(renewed);
  CHECK(r.err.find("lock lost") == std::string::npos);
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0].at("code") == 200);
  CHECK(Str(deletes[0].at("token")) == "token-rotated");
}

}  // namespace ha_sync::test

namespace ha_sync::test {

TEST_CASE("shards of a run share the pair's Lease and hold their own; unsharded runs and other shard counts stay out") {
  FakeKubeApi fake;
  Trees t;
  t.Fill(20);
  // Every top-level directory has a big file: both shards are busy for seconds.
  for (int d = 0; d < 10; ++d) t.Big("d" + std::to_string(d) + "/big", off_t{1} << 30);
  auto shard = [&](const std::string& spec, const std::string& group) {
    return Args(fake, t, {"--shard", spec, "--run-group", group});
  };
  Running a = StartHaSync(shard("0/2", "job-1"), {"HOSTNAME=pod-0"});
  Running b = StartHaSync(shard("1/2", "job-1"), {"HOSTNAME=pod-1"});
  auto held = [&](const std::string& name) {
    for (int i = 0; i < 3000; ++i) {
      if (fake.Lease(name)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  REQUIRE(held("ha-sync-media-0-of-2"));
  REQUIRE(held("ha-sync-media-1-of-2"));
  // Longer than the 5 s TTL: both renew the one shared Lease, neither loses it.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  const auto pair_lease = fake.Lease(kLeaseName);
  REQUIRE(pair_lease.has_value());
  CHECK(Str(*Path(json::value(*pair_lease), {"spec", "holderIdentity"})) == "sharded-run/2-shards");

  RunOutput plain = RunHaSync(Args(fake, t), kPodEnv);
  CHECK(plain.exit_code == 0);
  CHECK(plain.out.find("locked by another run") != std::string::npos);
  CHECK(plain.out.find("sharded-run/2-shards") != std::string::npos);
  RunOutput other_n = RunHaSync(shard("0/3", "job-2"), kPodEnv);
  CHECK(other_n.exit_code == 0);
  CHECK(other_n.out.find("locked by another run") != std::string::npos);
  RunOutput twice = RunHaSync(shard("1/2", "job-2"), kPodEnv);
  CHECK(twice.exit_code == 0);
  CHECK(twice.out.find("pod-1/") != std::string::npos);  // held by shard 1 of job-1

  // Shard 0 ends first: shard 1 still works, so the shared Lease stays.
  ::kill(a.pid, SIGTERM);
  RunOutput ra = WaitHaSync(a);
  INFO(ra.err);
  CHECK(ra.err.find("interrupted by a signal") != std::string::npos);  // was working, never kept out
  CHECK_FALSE(fake.Lease("ha-sync-media-0-of-2").has_value());
  CHECK(fake.Lease(kLeaseName).has_value());
  CHECK(Requests(fake.Log(), "DELETE", kItem).empty());
  RunOutput still = RunHaSync(Args(fake, t), kPodEnv);
  CHECK(still.out.find("locked by another run") != std::string::npos);

  // The last shard out deletes it: an unsharded run may start at once (a
  // dry-run here, which takes the Lease too, to not copy the big files).
  ::kill(b.pid, SIGTERM);
  RunOutput rb = WaitHaSync(b);
  INFO(rb.err);
  CHECK(rb.err.find("interrupted by a signal") != std::string::npos);
  CHECK_FALSE(fake.Lease("ha-sync-media-1-of-2").has_value());
  CHECK_FALSE(fake.Lease(kLeaseName).has_value());
  CHECK(Requests(fake.Log(), "DELETE", kItem).size() == 1);
  RunOutput after = RunHaSync(Args(fake, t, {"--dry-run"}), kPodEnv);
  INFO(after.out, after.err);
  CHECK(after.exit_code == 0);
  CHECK(after.out.find("locked by another run") == std::string::npos);
  CHECK(after.out.find(": success;") != std::string::npos);
}

}  // namespace ha_sync::test
