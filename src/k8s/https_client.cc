#include "k8s/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>

namespace ha_sync::k8s {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

struct HttpsClient::Tls {
  ssl::context context{ssl::context::tls_client};
};

namespace {

constexpr size_t kMaxResponseBody = 4 << 20;  // a Lease or Status is a few KiB

// Chain verification plus the host check, remembering why a peer was refused
// so the error says more than "certificate verify failed".
class PeerVerifier {
 public:
  PeerVerifier(std::string host, std::string* why) : check_(host), host_(std::move(host)), why_(why) {}

  bool operator()(bool preverified, ssl::verify_context& ctx) {
    if (!preverified) {
      const int err = X509_STORE_CTX_get_error(ctx.native_handle());
      *why_ = std::string("server certificate not trusted by the CA file: ") +
              X509_verify_cert_error_string(err);
      return false;
    }
    if (!check_(preverified, ctx)) {
      *why_ = "server certificate is not valid for host '" + host_ + "'";
      return false;
    }
    return true;
  }

 private:
  ssl::host_name_verification check_;
  std::string host_;
  std::string* why_;
};

// Runs one asynchronous step to completion or until `deadline`; on timeout
// calls `cancel` and drains the cancelled operation. Returns false on timeout.
template <typename Start, typename Cancel>
bool RunStep(net::io_context& ioc, Clock::time_point deadline, Start&& start, Cancel&& cancel) {
  bool done = false;
  start(&done);
  ioc.restart();
  ioc.run_until(deadline);
  if (done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

std::string Millis(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

}  // namespace

HttpsClient::HttpsClient(ApiEndpoint endpoint, HttpTimeouts timeouts, std::string user_agent)
    : endpoint_(std::move(endpoint)), timeouts_(timeouts), user_agent_(std::move(user_agent)),
      tls_(std::make_unique<Tls>()) {}

HttpsClient::~HttpsClient() = default;

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(ApiEndpoint endpoint, const std::string& ca_file,
                                                         HttpTimeouts timeouts, std::string user_agent) {
  std::unique_ptr<HttpsClient> client(new HttpsClient(std::move(endpoint), timeouts, std::move(user_agent)));
  ssl::context& ctx = client->tls_->context;
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx.load_verify_file(ca_file, ec);
  if (ec) {
    return Status::Error("cannot load the API server CA file '" + ca_file + "': " + ec.message());
  }
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Status::Error("TLS setup: " + ec.message());
  return client;
}

HttpOutcome HttpsClient::RoundTrip(const HttpRequest& request, Clock::time_point deadline) {
  HttpOutcome out;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  ssl::stream<tcp::socket> stream(ioc, tls_->context);
  const std::string where = endpoint_.Url();
  auto fail = [&](TransportFailure failure, std::string why) {
    out.failure = failure;
    out.error = where + ": " + why;
    return out;
  };

  const auto connect_deadline = std::min(deadline, Clock::now() + timeouts_.connect);
  auto close_socket = [&] {
    error_code ignored;
    stream.lowest_layer().close(ignored);
  };

  // Resolve (an IP literal resolves without a lookup).
  error_code ec;
  tcp::resolver::results_type endpoints;
  if (!RunStep(ioc, connect_deadline,
               [&](bool* done) {
                 resolver.async_resolve(endpoint_.host, endpoint_.port,
                                        tcp::resolver::numeric_service,
                                        [&, done](error_code e, tcp::resolver::results_type r) {
                                          ec = e;
                                          endpoints = std::move(r);
                                          *done = true;
                                        });
               },
               [&] { resolver.cancel(); })) {
    return fail(TransportFailure::kConnect, "name resolution timed out");
  }
  if (ec) return fail(TransportFailure::kConnect, "cannot resolve '" + endpoint_.host + "': " + ec.message());

  if (!RunStep(ioc, connect_deadline,
               [&](bool* done) {
                 net::async_connect(stream.lowest_layer(), endpoints, [&, done](error_code e, const tcp::endpoint&) {
                   ec = e;
                   *done = true;
                 });
               },
               close_socket)) {
    return fail(TransportFailure::kConnect, "connect timed out after " + Millis(timeouts_.connect));
  }
  if (ec) return fail(TransportFailure::kConnect, "connect: " + ec.message());

  std::string verify_error;
  stream.set_verify_callback(PeerVerifier(endpoint_.host, &verify_error), ec);
  if (!endpoint_.host_is_ip && SSL_set_tlsext_host_name(stream.native_handle(), endpoint_.host.c_str()) != 1) {
    return fail(TransportFailure::kConnect, "cannot set TLS SNI");
  }
  if (!RunStep(ioc, connect_deadline,
               [&](bool* done) {
                 stream.async_handshake(ssl::stream_base::client, [&, done](error_code e) {
                   ec = e;
                   *done = true;
                 });
               },
               close_socket)) {
    return fail(TransportFailure::kConnect, "TLS handshake timed out");
  }
  if (!verify_error.empty()) return fail(TransportFailure::kTlsVerify, verify_error);
  if (ec) return fail(TransportFailure::kConnect, "TLS handshake: " + ec.message());

  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(request.target);
  req.version(11);
  req.set(http::field::host, endpoint_.HostPort());
  req.set(http::field::user_agent, user_agent_);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  if (!request.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + request.bearer_token);
  if (!request.body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = request.body;
  }
  req.prepare_payload();

  const auto response_start = Clock::now();
  const auto response_deadline = std::min(deadline, response_start + timeouts_.response);
  const auto response_budget =
      std::chrono::duration_cast<std::chrono::milliseconds>(response_deadline - response_start);
  out.request_sent = true;
  if (!RunStep(ioc, response_deadline,
               [&](bool* done) {
                 http::async_write(stream, req, [&, done](error_code e, size_t) {
                   ec = e;
                   *done = true;
                 });
               },
               close_socket)) {
    return fail(TransportFailure::kTimeout, "sending the request timed out");
  }
  if (ec) return fail(TransportFailure::kIo, "sending the request: " + ec.message());

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  if (!RunStep(ioc, response_deadline,
               [&](bool* done) {
                 http::async_read(stream, buffer, parser, [&, done](error_code e, size_t) {
                   ec = e;
                   *done = true;
                 });
               },
               close_socket)) {
    return fail(TransportFailure::kTimeout, "no response within " + Millis(response_budget));
  }
  if (ec) return fail(TransportFailure::kIo, "reading the response: " + ec.message());

  const auto& res = parser.get();
  out.response.status = static_cast<int>(res.result_int());
  out.response.body = res.body();
  out.response.content_type = std::string(res[http::field::content_type]);
  const auto retry_after = res[http::field::retry_after];
  if (!retry_after.empty() && retry_after.size() <= 6 &&
      retry_after.find_first_not_of("0123456789") == boost::beast::string_view::npos) {
    out.response.retry_after_seconds = std::atoi(std::string(retry_after).c_str());
  }
  close_socket();
  return out;
}

}  // namespace ha_sync::k8s
