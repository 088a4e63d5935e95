// Building HTTP responses the same way everywhere: JSON bodies, JSON errors
// ({"error": "..."}), Prometheus text, static assets, and the security
// headers every response carries.
//
// Security headers (all responses): a Content-Security-Policy that allows
// scripts, styles and fetches from this origin only (no inline script, no
// inline style, no framing: frame-ancestors 'none'), X-Content-Type-Options:
// nosniff, X-Frame-Options: DENY, Referrer-Policy: no-referrer,
// Cross-Origin-Resource-Policy: same-origin, Cache-Control: no-store (API
// answers are live data; assets are small).
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "http/http_server.h"

namespace ha_sync::http {

void AddSecurityHeaders(Response* res);

// `status` with `body` serialised as JSON (Content-Type: application/json).
Response JsonResponse(beast_http::status status, const boost::json::value& body);
// {"error": message} with `status`.
Response ErrorResponse(beast_http::status status, std::string_view message);
// 405 with Allow: GET, HEAD.
Response MethodNotAllowed();
Response TextResponse(beast_http::status status, std::string body, std::string_view content_type);

}  // namespace ha_sync::http
