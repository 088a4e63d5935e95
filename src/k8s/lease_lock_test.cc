// LeaseLock against the fake API server (tests/k8s/fake_kube_api.py).
#include "k8s/lease_lock.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "fake_api_harness.h"

namespace ha_sync::k8s {

namespace json = boost::json;
using test::FakeKubeApi;
using test::Path;
using test::Requests;
using test::Str;

namespace {

constexpr char kLease[] = "ha-sync-media";
constexpr char kItem[] = "/leases/ha-sync-media";

struct Setup {
  std::string url;
  std::string ca = test::Certs().ca;
  std::string token_file;
  std::string holder = "pod-a/run-1";
  std::string ns = "infrastructure";
  int ttl = 6;
  int skew = 1;
  int acquire_timeout_ms = 8000;
  std::string lease = kLease;
  std::optional<std::vector<std::string>> shared_by;  // set: a shared lease
};

Setup For(const FakeKubeApi& fake) {
  Setup s;
  s.url = fake.url();
  s.token_file = fake.token_file();
  return s;
}

struct Made {
  std::unique_ptr<LeaseLock> lock;
  Status status;
  std::shared_ptr<std::vector<std::string>> logs = std::make_shared<std::vector<std::string>>();
};

Made MakeLock(const Setup& s, const std::atomic<bool>* stop = nullptr) {
  Made made;
  auto endpoint = ParseApiUrl(s.url);
  REQUIRE(endpoint.ok());
  LeaseLockConfig config;
  config.namespace_name = s.ns;
  config.lease_name = s.lease;
  config.shared = s.shared_by.has_value();
  if (s.shared_by) config.shared_by = *s.shared_by;
  config.holder_identity = s.holder;
  config.ttl = std::chrono::seconds(s.ttl);
  config.skew_margin = std::chrono::seconds(s.skew);
  config.acquire_timeout = std::chrono::milliseconds(s.acquire_timeout_ms);
  auto logs = made.logs;
  auto mu = std::make_shared<std::mutex>();
  config.log = [logs, mu](const std::string& m) {
    std::lock_guard<std::mutex> l(*mu);
    logs->push_back(m);
  };
  const LeaseTimings t = ComputeLeaseTimings(config.ttl, config.skew_margin);
  auto http = HttpsClient::Create(*endpoint, s.ca, HttpTimeouts{t.request_timeout, t.request_timeout},
                                  "ha-sync/test (linux) lease-lock");
  if (!http.ok()) {
    made.status = http.status();
    return made;
  }
  auto api = std::make_unique<ApiClient>(std::move(*http), s.token_file);
  made.lock = std::make_unique<LeaseLock>(std::move(api), config, stop);
  return made;
}

bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int64_t Int(const json::value* v) { return v != nullptr && v->is_int64() ? v->as_int64() : -1; }

// Successful renewals (PUT 200) seen by the server.
size_t Renewals(const json::array& log) {
  size_t n = 0;
  for (const auto& r : Requests(log, "PUT", kItem)) n += r.at("code") == 200;
  return n;
}

}  // namespace

TEST_CASE("fresh acquire: 404 -> POST; renewals carry rv and uid; release deletes with preconditions") {
  FakeKubeApi fake;
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock);
  RunLock::AcquireResult r = m.lock->Acquire();
  REQUIRE(r.outcome == RunLock::Outcome::kAcquired);
  CHECK(m.lock->MayStillWrite());
  CHECK(m.lock->LostReason().empty());

  json::array log = fake.Log();
  REQUIRE(log.size() >= 2);
  CHECK(Str(log[0].at("method")) == "GET");
  CHECK(log[0].at("code") == 404);
  auto posts = Requests(log, "POST", "/leases");
  REQUIRE(posts.size() == 1);
  const json::value& body = posts[0].at("body");
  CHECK(posts[0].at("code") == 201);
  CHECK(Str(posts[0].at("content_type")) == "application/json");
  CHECK(Str(posts[0].at("user_agent")).rfind("ha-sync/", 0) == 0);
  CHECK(Str(posts[0].at("token")) == "token-one");
  CHECK(Str(*Path(body, {"metadata", "name"})) == kLease);
  CHECK(Path(body, {"metadata", "resourceVersion"}) == nullptr);  // a create never carries one (500)
  CHECK(Path(body, {"metadata", "uid"}) == nullptr);
  CHECK(Str(*Path(body, {"spec", "holderIdentity"})) == "pod-a/run-1");
  CHECK(Int(Path(body, {"spec", "leaseDurationSeconds"})) == 6);
  CHECK(Int(Path(body, {"spec", "leaseTransitions"})) == 0);
  CHECK(test::IsMicroTime(*Path(body, {"spec", "renewTime"})));
  CHECK(test::IsMicroTime(*Path(body, {"spec", "acquireTime"})));

  // Two heartbeats (every TTL/3), each a PUT of the object as last received.
  REQUIRE(fake.WaitForLog([](const json::array& l) { return Renewals(l) >= 2; }));
  log = fake.Log();
  auto puts = Requests(log, "PUT", kItem);
  const std::string uid = Str(*Path(*fake.Lease(kLease), {"metadata", "uid"}));
  std::string previous_rv;
  for (size_t i = 0; i < 2; ++i) {
    const json::value& put = puts[i].at("body");
    CHECK(Str(*Path(put, {"metadata", "uid"})) == uid);
    CHECK_FALSE(Str(*Path(put, {"metadata", "resourceVersion"})).empty());
    CHECK(Str(*Path(put, {"metadata", "resourceVersion"})) != previous_rv);
    previous_rv = Str(*Path(put, {"metadata", "resourceVersion"}));
    CHECK(Str(*Path(put, {"spec", "holderIdentity"})) == "pod-a/run-1");
    CHECK(Int(Path(put, {"spec", "leaseTransitions"})) == 0);
    CHECK(*Path(put, {"spec", "acquireTime"}) == *Path(body, {"spec", "acquireTime"}));
    CHECK(*Path(put, {"spec", "renewTime"}) != *Path(body, {"spec", "renewTime"}));
  }
  CHECK(m.lock->MayStillWrite());

  const json::object before = *fake.Lease(kLease);
  REQUIRE(m.lock->Release().ok());
  CHECK_FALSE(m.lock->MayStillWrite());
  CHECK_FALSE(fake.Lease(kLease).has_value());
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  const json::value& del = deletes[0].at("body");
  CHECK(Str(*Path(del, {"kind"})) == "DeleteOptions");
  CHECK(Str(*Path(del, {"preconditions", "uid"})) == Str(*Path(before, {"metadata", "uid"})));
  CHECK(Str(*Path(del, {"preconditions", "resourceVersion"})) ==
        Str(*Path(before, {"metadata", "resourceVersion"})));
  CHECK(m.lock->Release().ok());  // idempotent
  CHECK(Requests(fake.Log(), "DELETE", kItem).size() == 1);
}

TEST_CASE("a lease held by a live holder is left alone and named") {
  FakeKubeApi fake;
  fake.PutLease(kLease, "pod-b/run-9", 60, 5, 3);
  const json::object before = *fake.Lease(kLease);
  fake.ClearLog();
  Made m = MakeLock(For(fake));
  RunLock::AcquireResult r = m.lock->Acquire();
  REQUIRE(r.outcome == RunLock::Outcome::kHeldByOther);
  CHECK(r.holder.find("pod-b/run-9") != std::string::npos);
  CHECK(r.holder.find(" since ") != std::string::npos);
  CHECK(r.holder.find("infrastructure/ha-sync-media") != std::string::npos);
  CHECK_FALSE(m.lock->MayStillWrite());
  const json::array log = fake.Log();
  for (const auto& e : log) CHECK(Str(e.at("method")) == "GET");
  CHECK(*fake.Lease(kLease) == before);
  CHECK(m.lock->Release().ok());
  CHECK(Requests(fake.Log(), "DELETE").empty());
}

TEST_CASE("an expired holder is taken over with a conditional PUT, leaseTransitions + 1") {
  FakeKubeApi fake;
  // renewTime 100 s ago, duration 30 s, margin 1 s: expired.
  fake.PutLease(kLease, "pod-dead/run-0", 30, 100, 4);
  const json::object before = *fake.Lease(kLease);
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  auto puts = Requests(fake.Log(), "PUT", kItem);
  REQUIRE(puts.size() == 1);
  const json::value& put = puts[0].at("body");
  CHECK(*Path(put, {"metadata", "uid"}) == *Path(before, {"metadata", "uid"}));
  CHECK(*Path(put, {"metadata", "resourceVersion"}) == *Path(before, {"metadata", "resourceVersion"}));
  CHECK(Int(Path(put, {"spec", "leaseTransitions"})) == 5);
  CHECK(Int(Path(put, {"spec", "leaseDurationSeconds"})) == 6);
  const json::object after = *fake.Lease(kLease);
  CHECK(Str(*Path(after, {"spec", "holderIdentity"})) == "pod-a/run-1");
  CHECK(Int(Path(after, {"spec", "leaseTransitions"})) == 5);
  CHECK(*Path(after, {"metadata", "uid"}) == *Path(before, {"metadata", "uid"}));
  CHECK(m.lock->Release().ok());
}

TEST_CASE("the skew margin protects a holder whose renewTime is just past its duration") {
  FakeKubeApi fake;
  fake.PutLease(kLease, "pod-slow/run-0", 30, 40);  // 10 s past the duration, margin 60 s
  Setup s = For(fake);
  s.skew = 60;
  Made m = MakeLock(s);
  CHECK(m.lock->Acquire().outcome == RunLock::Outcome::kHeldByOther);
  CHECK(Requests(fake.Log(), "PUT").empty());
}

TEST_CASE("racing contenders: exactly one wins, for a fresh and for an expired lease") {
  for (bool expired : {false, true}) {
    CAPTURE(expired);
    FakeKubeApi fake;
    if (expired) fake.PutLease(kLease, "pod-dead/run-0", 30, 1000, 7);
    constexpr int kRacers = 5;
    std::vector<Made> locks;
    for (int i = 0; i < kRacers; ++i) {
      Setup s = For(fake);
      s.holder = "pod-" + std::to_string(i) + "/run-" + std::to_string(i);
      locks.push_back(MakeLock(s));
    }
    std::atomic<int> ready{0};
    std::vector<RunLock::Outcome> outcomes(kRacers);
    std::vector<std::thread> threads;
    for (int i = 0; i < kRacers; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kRacers) std::this_thread::yield();
        outcomes[i] = locks[i].lock->Acquire().outcome;
      });
    }
    for (auto& t : threads) t.join();
    int won = 0, held = 0, winner = -1;
    for (int i = 0; i < kRacers; ++i) {
      if (outcomes[i] == RunLock::Outcome::kAcquired) {
        ++won;
        winner = i;
      }
      held += outcomes[i] == RunLock::Outcome::kHeldByOther;
    }
    CHECK(won == 1);
    CHECK(held == kRacers - 1);
    REQUIRE(winner >= 0);
    const json::object lease = *fake.Lease(kLease);
    CHECK(Str(*Path(lease, {"spec", "holderIdentity"})) == "pod-" + std::to_string(winner) + "/run-" +
                                                              std::to_string(winner));
    if (expired) CHECK(Int(Path(lease, {"spec", "leaseTransitions"})) == 8);
    for (int i = 0; i < kRacers; ++i) CHECK(locks[i].lock->MayStillWrite() == (i == winner));
    for (auto& l : locks) CHECK(l.lock->Release().ok());
  }
}

TEST_CASE("renew conflict after a take-over: stop at once, do not release") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.ttl = 3;  // loss is noticed at the next renewal, after TTL/3
  Made m = MakeLock(s);
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "take_over"}, {"name", kLease}, {"holder", "pod-thief/run-x"}});
  REQUIRE(WaitUntil([&] { return !m.lock->MayStillWrite(); }));
  CHECK(m.lock->LostReason().find("taken over") != std::string::npos);
  CHECK(m.lock->LostReason().find("pod-thief/run-x") != std::string::npos);
  // The renew PUT got 409 and the re-read showed the thief.
  const json::array log = fake.Log();
  auto puts = Requests(log, "PUT", kItem);
  REQUIRE_FALSE(puts.empty());
  CHECK(puts.back().at("code") == 409);
  CHECK(m.lock->Release().ok());
  CHECK(Requests(fake.Log(), "DELETE").empty());
  CHECK(Str(*Path(*fake.Lease(kLease), {"spec", "holderIdentity"})) == "pod-thief/run-x");
}

TEST_CASE("a lease deleted under its holder is lost and never re-created") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.ttl = 3;  // loss is noticed at the next renewal, after TTL/3
  Made m = MakeLock(s);
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "delete"}, {"name", kLease}});
  REQUIRE(WaitUntil([&] { return !m.lock->MayStillWrite(); }));
  CHECK(m.lock->LostReason().find("deleted") != std::string::npos);
  CHECK_FALSE(fake.Lease(kLease).has_value());
  // The renew PUT carried the uid, so the server refused to re-create (409, not 201).
  auto puts = Requests(fake.Log(), "PUT", kItem);
  REQUIRE_FALSE(puts.empty());
  CHECK(puts.back().at("code") == 409);
  CHECK_FALSE(Str(*Path(puts.back().at("body"), {"metadata", "uid"})).empty());
  for (const auto& p : Requests(fake.Log(), "POST")) CHECK(p.at("code") == 201);  // only the first acquire
  CHECK(Requests(fake.Log(), "POST").size() == 1);
  CHECK(m.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

TEST_CASE("a lease deleted and re-created by someone else is lost") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.ttl = 3;  // loss is noticed at the next renewal, after TTL/3
  Made m = MakeLock(s);
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "delete"}, {"name", kLease}});
  fake.PutLease(kLease, "pod-new/run-2", 60, 0);
  REQUIRE(WaitUntil([&] { return !m.lock->MayStillWrite(); }));
  CHECK(m.lock->LostReason().find("re-created") != std::string::npos);
  CHECK(m.lock->Release().ok());
  CHECK(Str(*Path(*fake.Lease(kLease), {"spec", "holderIdentity"})) == "pod-new/run-2");
}

TEST_CASE("a change that keeps us the holder (rv bumped) is adopted, not treated as lost") {
  FakeKubeApi fake;
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "annotate"}, {"name", kLease}, {"key", "admin"}, {"value", "looked"}});
  // The next renew gets 409, re-reads, adopts the new rv, and a later renew succeeds.
  REQUIRE(fake.WaitForLog([](const json::array& l) {
    auto puts = Requests(l, "PUT", kItem);
    bool conflict = false;
    for (const auto& p : puts) {
      if (p.at("code") == 409) conflict = true;
      if (conflict && p.at("code") == 200) return true;
    }
    return false;
  }));
  CHECK(m.lock->MayStillWrite());
  CHECK(Str(*Path(*fake.Lease(kLease), {"metadata", "annotations", "admin"})) == "looked");
  CHECK(m.lock->Release().ok());
}

TEST_CASE("release: a stale resourceVersion precondition (409) is re-read and retried while still ours") {
  FakeKubeApi fake;
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "annotate"}, {"name", kLease}, {"key", "k"}, {"value", "v"}});
  REQUIRE(m.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 2);
  CHECK(deletes[0].at("code") == 409);
  CHECK(deletes[1].at("code") == 200);
  CHECK(*Path(deletes[0].at("body"), {"preconditions", "uid"}) == *Path(deletes[1].at("body"), {"preconditions", "uid"}));
  CHECK(*Path(deletes[0].at("body"), {"preconditions", "resourceVersion"}) !=
        *Path(deletes[1].at("body"), {"preconditions", "resourceVersion"}));
}

TEST_CASE("release: a lease already gone (404) counts as released") {
  FakeKubeApi fake;
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "delete"}, {"name", kLease}});
  CHECK(m.lock->Release().ok());  // before any renewal noticed the deletion
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0].at("code") == 404);
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

TEST_CASE("429 and 503 bursts are survived, Retry-After honoured, plain-text 429 handled") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 503}, {"times", 2}, {"retry_after", "0"}});
  fake.AddFault({{"method", "POST"}, {"action", "plain429"}, {"times", 2}, {"retry_after", "1"}});
  // The fence counts from the first POST attempt (its renewTime is what is
  // stored), so the TTL must cover the 2 s of Retry-After plus the renew burst.
  Setup s = For(fake);
  s.ttl = 10;
  Made m = MakeLock(s);
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  json::array log = fake.Log();
  auto gets = Requests(log, "GET", kItem);
  REQUIRE(gets.size() >= 3);
  CHECK(gets[0].at("code") == 503);
  CHECK(gets[1].at("code") == 503);
  CHECK(gets[2].at("code") == 404);
  auto posts = Requests(log, "POST");
  REQUIRE(posts.size() == 3);
  CHECK(posts[0].at("code") == 429);
  CHECK(posts[1].at("code") == 429);
  CHECK(posts[2].at("code") == 201);
  // Retry-After: 1 was waited out between the 429s (fake's clock, nanoseconds).
  CHECK(posts[1].at("mono_ns").as_int64() - posts[0].at("mono_ns").as_int64() >= 1'000'000'000);

  // Renewals through a burst of 503s and 429s: still holding afterwards.
  fake.AddFault({{"method", "PUT"}, {"action", "status"}, {"code", 503}, {"times", 2}});
  fake.AddFault({{"method", "PUT"}, {"action", "plain429"}, {"times", 2}, {"retry_after", "0"}});
  const bool renewed = fake.WaitForLog([](const json::array& l) {
    auto puts = Requests(l, "PUT", kItem);
    return puts.size() >= 5 && puts.back().at("code") == 200;
  });
  INFO(test::Summary(fake.Log()));
  REQUIRE(renewed);
  CHECK(m.lock->MayStillWrite());
  CHECK(m.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

TEST_CASE("ambiguous writes are resolved by re-reading holderIdentity") {
  SUBCASE("a POST applied, then the connection reset") {
    FakeKubeApi fake;
    fake.AddFault({{"method", "POST"}, {"action", "reset"}, {"apply", true}});
    Made m = MakeLock(For(fake));
    REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    const json::array log = fake.Log();
    auto posts = Requests(log, "POST");
    REQUIRE(posts.size() == 1);  // not sent twice
    CHECK(posts[0].at("applied_code") == 201);
    CHECK(Requests(log, "GET", kItem).size() == 2);  // the first read, then the deciding re-read
    CHECK(m.lock->MayStillWrite());
    CHECK(m.lock->Release().ok());
  }
  SUBCASE("a take-over PUT applied, answered 504") {
    FakeKubeApi fake;
    fake.PutLease(kLease, "pod-dead/run-0", 30, 1000, 1);
    fake.AddFault({{"method", "PUT"}, {"action", "status"}, {"code", 504}, {"apply", true}});
    Made m = MakeLock(For(fake));
    REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    auto puts = Requests(fake.Log(), "PUT");
    REQUIRE(puts.size() == 1);
    CHECK(puts[0].at("applied_code") == 200);
    CHECK(puts[0].at("code") == 504);
    CHECK(Int(Path(*fake.Lease(kLease), {"spec", "leaseTransitions"})) == 2);
    CHECK(m.lock->Release().ok());
  }
  SUBCASE("a POST that failed with 500 before applying: re-read finds nothing, POST again") {
    FakeKubeApi fake;
    fake.AddFault({{"method", "POST"}, {"action", "status"}, {"code", 500}});
    Made m = MakeLock(For(fake));
    REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    auto posts = Requests(fake.Log(), "POST");
    REQUIRE(posts.size() == 2);
    CHECK(posts[0].at("code") == 500);
    CHECK(posts[1].at("code") == 201);
    CHECK(m.lock->Release().ok());
  }
  SUBCASE("a renew applied, its answer lost: the re-read adopts it") {
    FakeKubeApi fake;
    Made m = MakeLock(For(fake));
    REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    fake.AddFault({{"method", "PUT"}, {"action", "reset"}, {"apply", true}});
    REQUIRE(fake.WaitForLog([](const json::array& l) {
      auto puts = Requests(l, "PUT", kItem);
      return puts.size() >= 2 && puts.back().at("code") == 200;
    }));
    const json::array log = fake.Log();
    auto puts = Requests(log, "PUT", kItem);
    CHECK(Str(puts[0].at("code")) == "reset");
    CHECK(puts[0].at("applied_code") == 200);
    // The second renew carried the resourceVersion the lost answer would have given.
    CHECK(Str(*Path(puts[1].at("body"), {"metadata", "resourceVersion"})) !=
          Str(*Path(puts[0].at("body"), {"metadata", "resourceVersion"})));
    CHECK(m.lock->MayStillWrite());
    CHECK(m.lock->Release().ok());
  }
}

TEST_CASE("API unreachable at start: an error, quickly, and nothing written") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.url = "https://127.0.0.1:1";  // nothing listens there
  s.acquire_timeout_ms = 1500;
  Made m = MakeLock(s);
  RunLock::AcquireResult r = m.lock->Acquire();
  CHECK(r.outcome == RunLock::Outcome::kError);
  CHECK(r.status.message().find("cannot reach the Kubernetes API") != std::string::npos);
  CHECK(r.status.message().find("127.0.0.1:1") != std::string::npos);
  CHECK_FALSE(m.lock->MayStillWrite());
  CHECK(m.lock->Release().ok());
}

TEST_CASE("API unreachable mid-run: writing stops before the lease can expire") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.ttl = 3;  // renew every 1 s; fence at last success + 3 s - 1 s
  Made m = MakeLock(s);
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(fake.WaitForLog([](const json::array& l) { return Renewals(l) >= 1; }));
  fake.Op({{"op", "down"}});
  REQUIRE(WaitUntil([&] { return !m.lock->MayStillWrite(); }));
  const int64_t stopped_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // The last write the server accepted (the fake's monotonic clock is CLOCK_MONOTONIC, like steady_clock).
  int64_t last_ok_ns = 0;
  for (const auto& e : fake.Log()) {
    if ((Str(e.at("method")) == "PUT" || Str(e.at("method")) == "POST") && e.at("code").is_int64() &&
        e.at("code").as_int64() < 300) {
      last_ok_ns = e.at("mono_ns").as_int64();
    }
  }
  REQUIRE(last_ok_ns > 0);
  // A contender may take over at renewTime + TTL + skew; renewTime was written before last_ok_ns.
  CHECK(stopped_ns < last_ok_ns + 3'000'000'000LL);
  CHECK(m.lock->LostReason().find("not renewed in time") != std::string::npos);
  CHECK(m.lock->LostReason().find("last error") != std::string::npos);
  fake.Op({{"op", "up"}});
  // Writing never resumes, even though the API is back and the lease still names us.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK_FALSE(m.lock->MayStillWrite());
  // Release after an outage still deletes, conditionally (it is still ours).
  CHECK(m.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

TEST_CASE("API hanging: request timeouts fire") {
  SUBCASE("at acquire") {
    FakeKubeApi fake;
    fake.AddFault({{"action", "hang"}, {"times", -1}, {"seconds", 60}});
    Setup s = For(fake);
    s.acquire_timeout_ms = 2500;
    Made m = MakeLock(s);
    RunLock::AcquireResult r = m.lock->Acquire();
    CHECK(r.outcome == RunLock::Outcome::kError);
    CHECK(r.status.message().find("no response within") != std::string::npos);
  }
  SUBCASE("while holding: renewals time out, retry, and the fence stops writing") {
    FakeKubeApi fake;
    Setup s = For(fake);
    s.ttl = 3;
    Made m = MakeLock(s);
    REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    fake.AddFault({{"action", "hang"}, {"times", -1}, {"seconds", 60}});
    REQUIRE(WaitUntil([&] { return !m.lock->MayStillWrite(); }));
    // The reason names the unanswered renew, and the timeout once it fired.
    const std::string first = m.lock->LostReason();
    CHECK((first.find("no answer yet") != std::string::npos || first.find("no response within") != std::string::npos));
    CHECK(WaitUntil([&] { return m.lock->LostReason().find("no response within") != std::string::npos; }));
    CHECK(Requests(fake.Log(), "PUT").size() >= 1);
    fake.Control("DELETE", "/faults");
    CHECK(m.lock->Release().ok());
  }
}

TEST_CASE("a token rotated on disk is picked up on the 401, and the request retried once") {
  FakeKubeApi fake;
  Made m = MakeLock(For(fake));
  REQUIRE(m.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  fake.Op({{"op", "rotate_token"}, {"token", "token-two"}, {"revoke_old", true}});
  REQUIRE(fake.WaitForLog([](const json::array& l) {
    auto puts = Requests(l, "PUT", kItem);
    return !puts.empty() && puts.back().at("code") == 200 && Str(puts.back().at("token")) == "token-two";
  }));
  auto puts = Requests(fake.Log(), "PUT", kItem);
  REQUIRE(puts.size() >= 2);
  CHECK(puts[0].at("code") == 401);
  CHECK(Str(puts[0].at("token")) == "token-one");
  CHECK(puts[1].at("code") == 200);
  CHECK(Str(puts[1].at("token")) == "token-two");
  CHECK(m.lock->MayStillWrite());
  CHECK(m.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

TEST_CASE("RBAC denial is a clear error naming verb and resource") {
  FakeKubeApi fake;
  fake.Op({{"op", "deny"}, {"verbs", json::array{"create"}}});
  Made m = MakeLock(For(fake));
  RunLock::AcquireResult r = m.lock->Acquire();
  REQUIRE(r.outcome == RunLock::Outcome::kError);
  CHECK(r.status.message().find("refused to create leases.coordination.k8s.io") != std::string::npos);
  CHECK(r.status.message().find("403") != std::string::npos);

  fake.Op({{"op", "deny"}, {"verbs", json::array{"delete"}}});
  Made ok = MakeLock(For(fake));
  REQUIRE(ok.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  Status released = ok.lock->Release();
  REQUIRE_FALSE(released.ok());
  CHECK(released.message().find("refused to delete leases.coordination.k8s.io") != std::string::npos);

  FakeKubeApi anonymous;
  Setup s = For(anonymous);
  s.token_file = "/nonexistent/token";
  Made none = MakeLock(s);
  RunLock::AcquireResult nr = none.lock->Acquire();
  REQUIRE(nr.outcome == RunLock::Outcome::kError);
  CHECK(nr.status.message().find("/nonexistent/token") != std::string::npos);
  CHECK(anonymous.Log().empty());  // no request without a token
}

TEST_CASE("a missing namespace is a clear error") {
  FakeKubeApi fake;
  Setup s = For(fake);
  s.ns = "nowhere";
  Made m = MakeLock(s);
  RunLock::AcquireResult r = m.lock->Acquire();
  REQUIRE(r.outcome == RunLock::Outcome::kError);
  CHECK(r.status.message().find("namespaces \"nowhere\" not found") != std::string::npos);
  CHECK(r.status.message().find("--lease-namespace") != std::string::npos);
}

TEST_CASE("TLS: wrong CA and wrong host are refused; SNI only for DNS names") {
  SUBCASE("wrong CA") {
    FakeKubeApi fake;
    Setup s = For(fake);
    s.ca = test::Certs().other_ca;
    Made m = MakeLock(s);
    RunLock::AcquireResult r = m.lock->Acquire();
    REQUIRE(r.outcome == RunLock::Outcome::kError);
    CHECK(r.status.message().find("not trusted by the CA file") != std::string::npos);
    CHECK(fake.Log().empty());
  }
  SUBCASE("certificate for another host") {
    FakeKubeApi fake(FakeKubeApi::Options{.wrong_host_cert = true});
    Made m = MakeLock(For(fake));
    RunLock::AcquireResult r = m.lock->Acquire();
    REQUIRE(r.outcome == RunLock::Outcome::kError);
    CHECK(r.status.message().find("not valid for host '127.0.0.1'") != std::string::npos);
    CHECK(fake.Log().empty());
  }
  SUBCASE("IP literal: no SNI; DNS name: SNI") {
    FakeKubeApi fake;
    Made by_ip = MakeLock(For(fake));
    REQUIRE(by_ip.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    REQUIRE(by_ip.lock->Release().ok());
    json::array sni = fake.Control("GET", "/state").as_object().at("sni").as_array();
    REQUIRE_FALSE(sni.empty());
    for (const auto& name : sni) CHECK(name.is_null());

    Setup s = For(fake);
    s.url = "https://localhost:" + std::to_string(fake.port());
    Made by_name = MakeLock(s);
    REQUIRE(by_name.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    REQUIRE(by_name.lock->Release().ok());
    sni = fake.Control("GET", "/state").as_object().at("sni").as_array();
    CHECK(Str(sni.back()) == "localhost");
  }
}

TEST_CASE("SIGTERM during acquire stops the retries") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 503}, {"times", -1}});
  std::atomic<bool> stop{false};
  Setup s = For(fake);
  s.acquire_timeout_ms = 60000;
  Made m = MakeLock(s, &stop);
  std::thread signal([&] {
    fake.WaitForLog([](const json::array& l) { return l.size() >= 2; });
    stop.store(true);
  });
  RunLock::AcquireResult r = m.lock->Acquire();
  signal.join();
  CHECK(r.outcome == RunLock::Outcome::kError);
  CHECK(r.status.message().find("interrupted") != std::string::npos);
  CHECK(Requests(fake.Log(), "POST").empty());
}

}  // namespace ha_sync::k8s

namespace ha_sync::k8s {

namespace {

// Shard `index` of 2: its own lease, and the pair's lease shared by both.
struct ShardLocks {
  Made own, pair;
};

ShardLocks MakeShard(const FakeKubeApi& fake, int index) {
  Setup own = For(fake);
  own.lease = std::string(kLease) + "-" + std::to_string(index) + "-of-2";
  own.holder = "pod-" + std::to_string(index) + "/run-" + std::to_string(index);
  Setup pair = For(fake);
  pair.holder = "sharded-run/2-shards";
  pair.shared_by = std::vector<std::string>{std::string(kLease) + "-0-of-2", std::string(kLease) + "-1-of-2"};
  return {MakeLock(own), MakeLock(pair)};
}

}  // namespace

TEST_CASE("a shared lease: the last holder out deletes it, conditionally; earlier ones leave it") {
  FakeKubeApi fake;
  ShardLocks a = MakeShard(fake, 0), b = MakeShard(fake, 1);
  for (ShardLocks* s : {&a, &b}) {
    REQUIRE(s->own.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
    REQUIRE(s->pair.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  }
  // Shard 0 is done while shard 1 still holds its own lease: the pair's stays.
  REQUIRE(a.own.lock->Release().ok());
  REQUIRE(a.pair.lock->Release().ok());
  CHECK(fake.Lease(kLease).has_value());
  CHECK(Requests(fake.Log(), "DELETE", kItem).empty());
  CHECK(b.pair.lock->MayStillWrite());

  REQUIRE(b.own.lock->Release().ok());
  const json::object before = *fake.Lease(kLease);
  REQUIRE(b.pair.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(Str(*Path(deletes[0].at("body"), {"preconditions", "resourceVersion"})) ==
        Str(*Path(before, {"metadata", "resourceVersion"})));
}

TEST_CASE("a shared lease joined by another holder after it was read is left to that holder") {
  FakeKubeApi fake;
  ShardLocks a = MakeShard(fake, 0), b = MakeShard(fake, 1);
  REQUIRE(a.own.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(a.pair.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(a.own.lock->Release().ok());
  // Shard 0 reads the pair's lease, then its check of the shards' own leases
  // is slow; meanwhile shard 1 joins the pair's lease. Shard 0's DELETE then
  // carries a stale resourceVersion (409) and the lease stays with shard 1.
  fake.AddFault({{"method", "GET"}, {"path", std::string(kItem) + "-0-of-2"}, {"action", "delay"},
                 {"seconds", 3}, {"times", 1}});
  const size_t reads_before = Requests(fake.Log(), "GET", kItem).size();
  std::thread join([&] {
    // Shard 0's read of the pair's lease is answered: now it waits on the slow GET.
    REQUIRE(fake.WaitForLog([&](const json::array& l) { return Requests(l, "GET", kItem).size() > reads_before; }));
    REQUIRE(b.pair.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  });
  REQUIRE(a.pair.lock->Release().ok());
  join.join();
  CHECK(fake.Lease(kLease).has_value());
  auto deletes = Requests(fake.Log(), "DELETE", kItem);
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0].at("code") == 409);
  CHECK(b.pair.lock->MayStillWrite());
}

TEST_CASE("a shared lease is deleted past a crashed holder's expired own lease, not past a live one") {
  FakeKubeApi fake;
  ShardLocks a = MakeShard(fake, 0);
  fake.PutLease(std::string(kLease) + "-1-of-2", "pod-1/run-dead", 30, 5, 0);  // live
  REQUIRE(a.own.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(a.pair.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(a.own.lock->Release().ok());
  REQUIRE(a.pair.lock->Release().ok());
  CHECK(fake.Lease(kLease).has_value());

  ShardLocks again = MakeShard(fake, 0);
  fake.PutLease(std::string(kLease) + "-1-of-2", "pod-1/run-dead", 30, 100, 0);  // expired
  REQUIRE(again.own.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(again.pair.lock->Acquire().outcome == RunLock::Outcome::kAcquired);
  REQUIRE(again.own.lock->Release().ok());
  REQUIRE(again.pair.lock->Release().ok());
  CHECK_FALSE(fake.Lease(kLease).has_value());
}

}  // namespace ha_sync::k8s
