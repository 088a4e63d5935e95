// One HTTPS request/response exchange with the API server over Boost.Beast
// and OpenSSL. Each exchange uses a fresh connection ("Connection: close"):
// a lease client sends a request every few seconds at most, and a fresh
// connection never fails because the server silently dropped an idle one
// (which would turn a safe request into an ambiguous write).
//
// TLS: the peer chain is verified against the CA file and the certificate
// must name the host (DNS SAN, or IP SAN for an IP literal:
// asio ssl::host_name_verification). SNI is sent only for DNS names
// (RFC 6066 forbids IP literals). TLS 1.2 minimum; no ALPN, so HTTP/1.1.
//
// Timeouts: resolve + TCP connect + TLS handshake within `connect_timeout`,
// then write + read of the response within `response_timeout`; both are also
// capped by the caller's deadline. A timeout cancels the socket.
//
// Thread-safety: RoundTrip() may be called from several threads at once
// (each call has its own io_context and socket); the CA is loaded once.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "ha_sync/status.h"
#include "k8s/kube_config.h"

namespace ha_sync::k8s {

struct HttpRequest {
  std::string method;  // GET, POST, PUT, DELETE
  std::string target;  // path and query
  std::string body;    // sent with Content-Type: application/json when non-empty
  std::string bearer_token;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::optional<int> retry_after_seconds;  // Retry-After in seconds, when given that way
};

enum class TransportFailure {
  kNone,
  kConnect,    // DNS, TCP or TLS handshake failed: the request was not sent
  kTlsVerify,  // the server's certificate was refused: a configuration error
  kTimeout,    // a phase did not finish in time
  kIo,         // the connection failed while sending or receiving
};

struct HttpOutcome {
  TransportFailure failure = TransportFailure::kNone;
  bool request_sent = false;  // writing had begun: a write may have been applied
  std::string error;          // why, when failure != kNone
  HttpResponse response;      // when failure == kNone
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds response{10000};
};

class HttpsClient {
 public:
  // Loads the CA file; fails when it is unreadable or holds no certificate.
  static Result<std::unique_ptr<HttpsClient>> Create(ApiEndpoint endpoint, const std::string& ca_file,
                                                     HttpTimeouts timeouts, std::string user_agent);
  ~HttpsClient();

  HttpOutcome RoundTrip(const HttpRequest& request, std::chrono::steady_clock::time_point deadline);

  const ApiEndpoint& endpoint() const { return endpoint_; }
  const HttpTimeouts& timeouts() const { return timeouts_; }

 private:
  struct Tls;
  HttpsClient(ApiEndpoint endpoint, HttpTimeouts timeouts, std::string user_agent);

  const ApiEndpoint endpoint_;
  const HttpTimeouts timeouts_;
  const std::string user_agent_;
  std::unique_ptr<Tls> tls_;
};

}  // namespace ha_sync::k8s
