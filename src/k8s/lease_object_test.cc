#include "k8s/lease_object.h"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "k8s/lease_expiry.h"

namespace ha_sync::k8s {

namespace json = boost::json;
using std::chrono::seconds;

namespace {

// As served, with fields this client does not know (managedFields, a future
// spec field, a top-level extra).
constexpr char kServed[] = R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1",
 "metadata":{"name":"ha-sync-a","namespace":"infrastructure",
   "uid":"ad2342c7-ddf2-4299-b7d5-653a899ff212","resourceVersion":"184467",
   "creationTimestamp":"2026-11-25T19:43:10Z",
   "managedFields":[{"manager":"ha-sync","operation":"Update","apiVersion":"coordination.k8s.io/v1",
      "time":"2026-11-25T19:43:10Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:holderIdentity":{}}}}]},
 "spec":{"holderIdentity":"pod-x/6f1c0e2a9b","leaseDurationSeconds":3600,
   "acquireTime":"2026-11-25T19:43:10.123456Z","renewTime":"2026-11-25T20:03:10.654321Z",
   "leaseTransitions":4,"futureField":{"a":1}},
 "status":{"somethingNew":true}})";

WallTime At(const char* text) { return *ParseMicroTime(text); }

}  // namespace

TEST_CASE("a served Lease parses, unknown fields tolerated") {
  auto lease = Lease::Parse(kServed);
  REQUIRE(lease.ok());
  CHECK(lease->name() == "ha-sync-a");
  CHECK(lease->uid() == "ad2342c7-ddf2-4299-b7d5-653a899ff212");
  CHECK(lease->resource_version() == "184467");
  CHECK(lease->spec().holder_identity == "pod-x/6f1c0e2a9b");
  CHECK(lease->spec().lease_duration_seconds == 3600);
  CHECK(lease->spec().lease_transitions == 4);
  CHECK(lease->spec().acquire_time == At("2026-11-25T19:43:10.123456Z"));
  CHECK(lease->spec().renew_time == At("2026-11-25T20:03:10.654321Z"));
}

TEST_CASE("absent spec fields stay absent; an empty holder is no holder") {
  auto lease = Lease::Parse(
      R"({"kind":"Lease","metadata":{"name":"n","uid":"u","resourceVersion":"1"},"spec":{"holderIdentity":""}})");
  REQUIRE(lease.ok());
  CHECK(lease->spec().holder_identity == "");
  CHECK_FALSE(lease->spec().HasHolder());
  CHECK_FALSE(lease->spec().lease_duration_seconds.has_value());
  CHECK_FALSE(lease->spec().renew_time.has_value());
  auto no_spec = Lease::Parse(R"({"kind":"Lease","metadata":{"name":"n","uid":"u","resourceVersion":"1"}})");
  REQUIRE(no_spec.ok());
  CHECK_FALSE(no_spec->spec().holder_identity.has_value());
}

TEST_CASE("malformed Leases are errors, not guesses") {
  CHECK_FALSE(Lease::Parse("not json").ok());
  CHECK_FALSE(Lease::Parse("[]").ok());
  CHECK_FALSE(Lease::Parse(R"({"kind":"Status","metadata":{"uid":"u","resourceVersion":"1"}})").ok());
  CHECK_FALSE(Lease::Parse(R"({"kind":"Lease","metadata":{"name":"n","resourceVersion":"1"}})").ok());
  CHECK_FALSE(Lease::Parse(
      R"({"kind":"Lease","metadata":{"uid":"u","resourceVersion":"1"},"spec":{"leaseDurationSeconds":"60"}})").ok());
  CHECK_FALSE(Lease::Parse(
      R"({"kind":"Lease","metadata":{"uid":"u","resourceVersion":"1"},"spec":{"renewTime":"2030-01-02T03:04:05Z"}})").ok());
  CHECK_FALSE(Lease::Parse(
      R"({"kind":"Lease","metadata":{"uid":"u","resourceVersion":"1"},"spec":{"leaseTransitions":4294967296}})").ok());
}

TEST_CASE("WithSpec sends the object back with only spec changed") {
  auto lease = Lease::Parse(kServed);
  REQUIRE(lease.ok());
  LeaseSpec spec;
  spec.holder_identity = "pod-y/abc";
  spec.lease_duration_seconds = 30;
  spec.acquire_time = At("2027-01-01T00:00:00.000001Z");
  spec.renew_time = At("2027-01-01T00:00:00.000002Z");
  spec.lease_transitions = 5;
  const Lease next = lease->WithSpec(spec);
  json::object sent = json::parse(next.ToJson()).as_object();
  json::object orig = json::parse(kServed).as_object();
  // metadata (resourceVersion AND uid), status and unknown members are untouched.
  CHECK(sent["metadata"] == orig["metadata"]);
  CHECK(sent["status"] == orig["status"]);
  CHECK(sent["kind"] == orig["kind"]);
  CHECK(sent["apiVersion"] == orig["apiVersion"]);
  json::object& s = sent["spec"].as_object();
  CHECK(s["holderIdentity"] == "pod-y/abc");
  CHECK(s["leaseDurationSeconds"] == 30);
  CHECK(s["acquireTime"] == "2027-01-01T00:00:00.000001Z");
  CHECK(s["renewTime"] == "2027-01-01T00:00:00.000002Z");
  CHECK(s["leaseTransitions"] == 5);
  CHECK(s["futureField"] == orig["spec"].as_object()["futureField"]);
  CHECK(next.uid() == lease->uid());
  CHECK(next.resource_version() == lease->resource_version());
}

TEST_CASE("a create body has name and namespace but never a resourceVersion or uid") {
  LeaseSpec spec;
  spec.holder_identity = "p/r";
  spec.lease_duration_seconds = 60;
  spec.renew_time = At("2027-01-01T00:00:00.000000Z");
  json::object body = json::parse(Lease::ForCreate("infrastructure", "ha-sync-a", spec).ToJson()).as_object();
  CHECK(body["kind"] == "Lease");
  CHECK(body["apiVersion"] == "coordination.k8s.io/v1");
  json::object& meta = body["metadata"].as_object();
  CHECK(meta["name"] == "ha-sync-a");
  CHECK(meta["namespace"] == "infrastructure");
  CHECK_FALSE(meta.contains("resourceVersion"));
  CHECK_FALSE(meta.contains("uid"));
  json::object& s = body["spec"].as_object();
  CHECK(s["renewTime"] == "2027-01-01T00:00:00.000000Z");
  CHECK_FALSE(s.contains("acquireTime"));  // absent stays absent
}

TEST_CASE("DeleteOptions carries both preconditions") {
  json::object body = json::parse(DeleteOptionsWithPreconditions("u-1", "42")).as_object();
  CHECK(body["kind"] == "DeleteOptions");
  CHECK(body["apiVersion"] == "v1");
  CHECK(body["preconditions"].as_object()["uid"] == "u-1");
  CHECK(body["preconditions"].as_object()["resourceVersion"] == "42");
}

TEST_CASE("expiry: renewTime + leaseDurationSeconds + margin, with the lease's own duration") {
  LeaseSpec spec;
  spec.holder_identity = "other/1";
  spec.lease_duration_seconds = 100;
  spec.renew_time = At("2030-01-01T00:00:00.000000Z");
  const seconds margin(60);
  const WallTime limit = At("2030-01-01T00:02:40.000000Z");
  CHECK(EvaluateLease(spec, "me/2", limit, margin).state == LeaseState::kHeldLive);
  CHECK(EvaluateLease(spec, "me/2", limit + std::chrono::microseconds(1), margin).state == LeaseState::kExpired);
  CHECK(*EvaluateLease(spec, "me/2", limit, margin).takeover_after == limit);
  // A renewTime in the future (holder's clock ahead) is simply live.
  CHECK(EvaluateLease(spec, "me/2", At("2029-12-31T00:00:00.000000Z"), margin).state == LeaseState::kHeldLive);
  CHECK(EvaluateLease(spec, "other/1", limit + seconds(1000), margin).state == LeaseState::kOurs);

  LeaseSpec free = spec;
  free.holder_identity = "";
  CHECK(EvaluateLease(free, "me/2", limit, margin).state == LeaseState::kFree);
  free.holder_identity.reset();
  CHECK(EvaluateLease(free, "me/2", limit, margin).state == LeaseState::kFree);

  LeaseSpec odd = spec;
  odd.renew_time.reset();
  CHECK(EvaluateLease(odd, "me/2", limit, margin).state == LeaseState::kExpired);
  odd = spec;
  odd.lease_duration_seconds = 0;
  CHECK(EvaluateLease(odd, "me/2", limit, margin).state == LeaseState::kExpired);
  odd.lease_duration_seconds.reset();
  CHECK(EvaluateLease(odd, "me/2", limit, margin).state == LeaseState::kExpired);
}

}  // namespace ha_sync::k8s
