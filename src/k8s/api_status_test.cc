#include "k8s/api_status.h"

#include <doctest/doctest.h>

namespace ha_sync::k8s {

TEST_CASE("409 is told apart by Status.reason, not by the message") {
  const ApiStatus exists = ClassifyResponse(
      409,
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"ha-sync-a\" already exists","reason":"AlreadyExists","details":{"name":"ha-sync-a","group":"coordination.k8s.io","kind":"leases"},"code":409})");
  CHECK(exists.kind == ApiErrorKind::kAlreadyExists);
  CHECK(exists.has_status_body);
  CHECK(exists.message == "leases.coordination.k8s.io \"ha-sync-a\" already exists");

  const ApiStatus conflict = ClassifyResponse(
      409, R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"already exists, but the reason says Conflict","reason":"Conflict","code":409})");
  CHECK(conflict.kind == ApiErrorKind::kConflict);
  // A 409 without a Status body is a conflict.
  CHECK(ClassifyResponse(409, "conflict").kind == ApiErrorKind::kConflict);
}

TEST_CASE("codes map to kinds") {
  CHECK(ClassifyResponse(200, "{}").kind == ApiErrorKind::kNone);
  CHECK(ClassifyResponse(201, "{}").kind == ApiErrorKind::kNone);
  CHECK(ClassifyResponse(400, "").kind == ApiErrorKind::kBadRequest);
  CHECK(ClassifyResponse(401, "").kind == ApiErrorKind::kUnauthorized);
  CHECK(ClassifyResponse(403, "").kind == ApiErrorKind::kForbidden);
  CHECK(ClassifyResponse(404, "").kind == ApiErrorKind::kNotFound);
  CHECK(ClassifyResponse(415, "").kind == ApiErrorKind::kUnsupportedMediaType);
  CHECK(ClassifyResponse(422, "").kind == ApiErrorKind::kInvalid);
  CHECK(ClassifyResponse(429, "").kind == ApiErrorKind::kTooManyRequests);
  CHECK(ClassifyResponse(500, "").kind == ApiErrorKind::kServerError);
  CHECK(ClassifyResponse(503, "").kind == ApiErrorKind::kServerError);
  CHECK(ClassifyResponse(504, "").kind == ApiErrorKind::kServerError);
  CHECK(ClassifyResponse(302, "").kind == ApiErrorKind::kOther);
}

TEST_CASE("non-JSON bodies (plain-text 429, HTML) are kept as short one-line text") {
  const ApiStatus tmr = ClassifyResponse(429, "Too many requests, please try again later.\n");
  CHECK(tmr.kind == ApiErrorKind::kTooManyRequests);
  CHECK_FALSE(tmr.has_status_body);
  CHECK(tmr.reason.empty());
  CHECK(tmr.message == "Too many requests, please try again later.");
  CHECK(DescribeStatus(tmr) == "429 TooManyRequests: Too many requests, please try again later.");

  const ApiStatus html = ClassifyResponse(502, "<html>\n<body>" + std::string(500, 'x') + "</body></html>");
  CHECK(html.kind == ApiErrorKind::kServerError);
  CHECK(html.message.find('\n') == std::string::npos);
  CHECK(html.message.size() <= 203);

  // JSON that is not a Status is not treated as one.
  const ApiStatus other = ClassifyResponse(404, R"({"kind":"Lease","reason":"NotFound"})");
  CHECK_FALSE(other.has_status_body);
  CHECK(other.reason.empty());
}

TEST_CASE("a Status body describes itself by code and reason") {
  const ApiStatus st = ClassifyResponse(
      403, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"x\" is forbidden: User \"u\" cannot delete resource \"leases\"","reason":"Forbidden","details":{"name":"x"},"code":403})");
  CHECK(st.kind == ApiErrorKind::kForbidden);
  CHECK(DescribeStatus(st) ==
        "403 Forbidden: leases.coordination.k8s.io \"x\" is forbidden: User \"u\" cannot delete resource \"leases\"");
}

}  // namespace ha_sync::k8s
