// ApiClient's retry and authentication rules against the fake API server.
#include "k8s/api_client.h"

#include <doctest/doctest.h>

#include <thread>

#include "fake_api_harness.h"

namespace ha_sync::k8s {

namespace json = boost::json;
using test::FakeKubeApi;
using test::Requests;
using test::Str;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kItem[] = "/apis/coordination.k8s.io/v1/namespaces/infrastructure/leases/x";
constexpr char kCollection[] = "/apis/coordination.k8s.io/v1/namespaces/infrastructure/leases";
constexpr char kBody[] =
    R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"x"},"spec":{"holderIdentity":"a"}})";

std::unique_ptr<ApiClient> Client(const FakeKubeApi& fake, std::string token_file = "") {
  auto endpoint = ParseApiUrl(fake.url());
  REQUIRE(endpoint.ok());
  auto http = HttpsClient::Create(*endpoint, test::Certs().ca,
                                  HttpTimeouts{std::chrono::seconds(1), std::chrono::seconds(1)}, "ha-sync/test");
  REQUIRE(http.ok());
  return std::make_unique<ApiClient>(std::move(*http), token_file.empty() ? fake.token_file() : token_file,
                                     RetryPolicy{std::chrono::milliseconds(50), std::chrono::milliseconds(400)});
}

Clock::time_point In(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

}  // namespace

TEST_CASE("reads are retried through 5xx and 429 until they succeed") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 503}, {"times", 2}});
  fake.AddFault({{"method", "GET"}, {"action", "plain429"}, {"retry_after", "0"}});
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 504}});
  auto api = Client(fake);
  ApiResult r = api->Get(kItem, In(10000), nullptr);
  CHECK(r.Is(ApiErrorKind::kNotFound));
  CHECK(r.attempts == 5);
  CHECK(r.status.reason == "NotFound");
}

TEST_CASE("retries stop at the deadline and report the last answer") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 503}, {"times", -1}});
  auto api = Client(fake);
  ApiResult r = api->Get(kItem, In(1000), nullptr);
  CHECK(r.has_response);
  CHECK(r.status.code == 503);
  CHECK(r.attempts >= 2);
  CHECK(r.Describe().find("503") != std::string::npos);
}

TEST_CASE("a Retry-After beyond the deadline ends the call instead of overrunning it") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "plain429"}, {"retry_after", "30"}, {"times", -1}});
  auto api = Client(fake);
  const auto start = Clock::now();
  ApiResult r = api->Get(kItem, In(2000), nullptr);
  CHECK(r.Is(ApiErrorKind::kTooManyRequests));
  CHECK(r.attempts == 1);
  CHECK(r.status.message == "Too many requests, please try again later.");
  CHECK(Clock::now() - start < std::chrono::seconds(30));
}

TEST_CASE("a write that may have been applied is not repeated") {
  FakeKubeApi fake;
  SUBCASE("5xx") { fake.AddFault({{"method", "POST"}, {"action", "status"}, {"code", 503}}); }
  SUBCASE("reset after applying") { fake.AddFault({{"method", "POST"}, {"action", "reset"}, {"apply", true}}); }
  SUBCASE("no answer") { fake.AddFault({{"method", "POST"}, {"action", "hang"}, {"seconds", 5}}); }
  auto api = Client(fake);
  ApiResult r = api->Post(kCollection, kBody, In(10000), nullptr);
  CHECK(r.maybe_applied);
  CHECK(r.attempts == 1);
  CHECK(Requests(fake.Log(), "POST").size() == 1);
}

TEST_CASE("a write refused before it was processed (429) is repeated") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "POST"}, {"action", "plain429"}, {"retry_after", "0"}, {"times", 2}});
  auto api = Client(fake);
  ApiResult r = api->Post(kCollection, kBody, In(10000), nullptr);
  CHECK(r.ok());
  CHECK(r.status.code == 201);
  CHECK(r.attempts == 3);
  CHECK_FALSE(r.maybe_applied);
}

TEST_CASE("a write that never reached the server is repeated") {
  FakeKubeApi fake;
  fake.Op({{"op", "down"}});
  auto api = Client(fake);
  std::thread up([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    fake.Op({{"op", "up"}});
  });
  ApiResult r = api->Post(kCollection, kBody, In(10000), nullptr);
  up.join();
  CHECK(r.ok());
  CHECK(r.attempts >= 2);
  CHECK(Requests(fake.Log(), "POST").size() == 1);
}

TEST_CASE("a 401 re-reads the token file and retries at once, one time") {
  FakeKubeApi fake;
  auto api = Client(fake);
  REQUIRE(api->Get(kItem, In(5000), nullptr).Is(ApiErrorKind::kNotFound));  // token cached
  // Rotate: the server now accepts only the new token, and the file holds it.
  fake.Op({{"op", "rotate_token"}, {"token", "token-two"}, {"revoke_old", true}});
  ApiResult r = api->Get(kItem, In(5000), nullptr);
  CHECK(r.Is(ApiErrorKind::kNotFound));
  CHECK(r.attempts == 2);
  auto gets = Requests(fake.Log(), "GET", "/leases/x");
  REQUIRE(gets.size() == 3);
  CHECK(gets[1].at("code") == 401);
  CHECK(Str(gets[1].at("token")) == "token-one");
  CHECK(Str(gets[2].at("token")) == "token-two");
}

TEST_CASE("a token the server keeps refusing is an outage bounded by the deadline") {
  FakeKubeApi fake;
  test::TempDir dir;
  test::WriteFile(dir / "token", "wrong-token\n");
  auto api = Client(fake, dir / "token");
  ApiResult r = api->Get(kItem, In(2500), nullptr);
  CHECK(r.Is(ApiErrorKind::kUnauthorized));
  CHECK(r.attempts >= 3);  // at once after the first 401, then with backoff
}

TEST_CASE("a slow answer within the response timeout is simply waited for") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "delay"}, {"seconds", 0.4}});
  auto api = Client(fake);
  ApiResult r = api->Get(kItem, In(5000), nullptr);
  CHECK(r.Is(ApiErrorKind::kNotFound));
  CHECK(r.attempts == 1);
  CHECK(Str(fake.Log().at(0).at("fault")) == "delay");
}

TEST_CASE("the response timeout fires on a server that does not answer") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "hang"}, {"seconds", 30}, {"times", -1}});
  auto api = Client(fake);
  ApiResult r = api->Get(kItem, In(2500), nullptr);
  CHECK_FALSE(r.has_response);
  CHECK(r.error.find("no response within") != std::string::npos);
  CHECK(r.attempts >= 2);  // a read is retried after a timeout
}

TEST_CASE("an interrupted retry loop says so") {
  FakeKubeApi fake;
  fake.AddFault({{"method", "GET"}, {"action", "status"}, {"code", 503}, {"times", -1}});
  auto api = Client(fake);
  std::atomic<bool> stop{true};
  ApiResult r = api->Get(kItem, In(10000), &stop);
  CHECK(r.interrupted);
  CHECK(r.attempts == 1);
}

}  // namespace ha_sync::k8s
