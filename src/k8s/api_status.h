// What an API server answer means, decided by the HTTP code and, for 409,
// by Status.reason (AlreadyExists vs Conflict); never by message text.
// Error bodies are usually a meta/v1 Status object, but not always: 429 from
// API Priority and Fairness is plain text, proxies answer HTML. A body that
// is not a Status is kept as text for the message.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <string>
#include <string_view>

namespace ha_sync::k8s {

enum class ApiErrorKind {
  kNone,                  // 2xx
  kBadRequest,            // 400: decode error (bad MicroTime, JSON types), name mismatch
  kUnauthorized,          // 401: token rejected
  kForbidden,             // 403: RBAC
  kNotFound,              // 404: object or namespace missing
  kAlreadyExists,         // 409 reason AlreadyExists: POST of an existing name
  kConflict,              // 409 otherwise: stale resourceVersion, failed uid/rv precondition
  kUnsupportedMediaType,  // 415
  kInvalid,               // 422: validation
  kTooManyRequests,       // 429: API Priority and Fairness; retry after Retry-After
  kServerError,           // 5xx: for a write, the outcome is unknown
  kOther,                 // anything else (3xx, other 4xx)
};

struct ApiStatus {
  int code = 0;
  ApiErrorKind kind = ApiErrorKind::kOther;
  bool has_status_body = false;  // the body was a JSON Status object
  std::string reason;            // Status.reason ("" when absent)
  std::string message;           // Status.message, else the body text (shortened)
};

ApiStatus ClassifyResponse(int http_code, std::string_view body);

// "409 Conflict: <message>" for logs and errors.
std::string DescribeStatus(const ApiStatus& status);

const char* ToString(ApiErrorKind kind);

}  // namespace ha_sync::k8s
