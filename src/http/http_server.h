// A small HTTP/1.1 server on Boost.Beast, shared by the dashboard
// (ha-sync-ui) and the live status page of a running ha-sync.
//
// Contract
//  - Start() binds and listens before it returns (port 0: an ephemeral port,
//    see port()), then serves until Stop() or destruction.
//  - Every connection is asynchronous on its own strand; reading a request
//    head, reading its body, waiting for the next request on a kept-alive
//    connection and writing a response each have a deadline. A client that
//    sends slowly, or not at all, holds one socket until its deadline and
//    never a thread, so it cannot block other clients.
//  - The handler runs on a separate pool of handler threads (it may block,
//    e.g. on a database), never on the threads that do network I/O.
//  - HEAD is answered like GET without the body (the handler sees HEAD and
//    answers as for GET). Requests with a head over header_limit get 431,
//    bodies over body_limit 413, malformed requests 400; then the connection
//    is closed. Over max_connections, new connections are closed at once.
//
// Thread-safety: Start/Stop from one thread. The handler is called from
// several handler threads at once and must be thread-safe.
#pragma once

#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string host = "0.0.0.0";  // an IPv4 or IPv6 literal
  uint16_t port = 8080;
  int io_threads = 2;
  int handler_threads = 4;
  std::chrono::milliseconds header_timeout{10000};  // the whole request head
  std::chrono::milliseconds body_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};    // between requests on one connection
  std::chrono::milliseconds write_timeout{30000};
  size_t header_limit = 16 * 1024;
  size_t body_limit = 64 * 1024;
  size_t max_connections = 512;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const ServerOptions& options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port actually bound.
  uint16_t port() const;
  // Connections open right now.
  size_t connections() const;
  // Stops accepting, closes every connection, waits for running handlers.
  void Stop();

 private:
  class Impl;
  friend class Session;  // one connection (http_server.cc) talks to Impl
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ha_sync::http
