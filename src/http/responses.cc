#include "http/responses.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace ha_sync::http {

namespace {
// Only same-origin scripts, styles and fetches; SVG charts are built through
// the DOM (no inline style attributes), so 'unsafe-inline' is never needed.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}  // namespace

void AddSecurityHeaders(Response* res) {
  res->set("Content-Security-Policy", kCsp);
  res->set("X-Content-Type-Options", "nosniff");
  res->set("X-Frame-Options", "DENY");
  res->set("Referrer-Policy", "no-referrer");
  res->set("Cross-Origin-Resource-Policy", "same-origin");
  res->set(beast_http::field::cache_control, "no-store");
}

Response TextResponse(beast_http::status status, std::string body, std::string_view content_type) {
  Response res{status, 11};
  res.set(beast_http::field::content_type, content_type);
  res.set(beast_http::field::server, "ha-sync");
  AddSecurityHeaders(&res);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response JsonResponse(beast_http::status status, const boost::json::value& body) {
  return TextResponse(status, boost::json::serialize(body) + "\n", "application/json");
}

Response ErrorResponse(beast_http::status status, std::string_view message) {
  boost::json::object o;
  o["error"] = message;
  return JsonResponse(status, o);
}

Response MethodNotAllowed() {
  Response res = ErrorResponse(beast_http::status::method_not_allowed,
                               "method not allowed: use GET or HEAD");
  res.set(beast_http::field::allow, "GET, HEAD");
  return res;
}

}  // namespace ha_sync::http
