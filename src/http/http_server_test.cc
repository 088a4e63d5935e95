#include "http/http_server.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "http/responses.h"
#include "support/test_client.h"

namespace ha_sync::http {
namespace {

using testing::Client;
using testing::Fetch;
using testing::RawConnection;

ServerOptions LocalOptions() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.header_timeout = std::chrono::milliseconds(700);
  o.body_timeout = std::chrono::milliseconds(700);
  o.idle_timeout = std::chrono::milliseconds(700);
  return o;
}

Response Echo(const Request& req) {
  return TextResponse(beast_http::status::ok,
                      std::string(req.method_string()) + " " + std::string(req.target()) + " " +
                          std::to_string(req.body().size()),
                      "text/plain");
}

TEST_CASE("server answers GET, HEAD without a body, and keeps the connection alive") {
  auto server = HttpServer::Start(LocalOptions(), Echo);
  REQUIRE_MESSAGE(server.ok(), server.status().message());
  const uint16_t port = (*server)->port();
  CHECK(port != 0);

  Client client(port);
  auto r = client.Get("/a?b=1");
  CHECK(r.status == 200);
  CHECK(r.body == "GET /a?b=1 0");
  CHECK(r.header("x-content-type-options") == "nosniff");
  CHECK(r.header("content-security-policy").find("frame-ancestors 'none'") != std::string::npos);

  auto h = client.Send("HEAD", "/x");
  CHECK(h.status == 200);
  CHECK(h.body.empty());
  CHECK(h.header("content-length") == std::to_string(std::string("HEAD /x 0").size()));

  // Same connection still usable after HEAD.
  auto again = client.Get("/again");
  CHECK(again.status == 200);
  CHECK(again.body == "GET /again 0");
}

TEST_CASE("server rejects malformed and oversized requests") {
  auto options = LocalOptions();
  options.header_limit = 2048;
  options.body_limit = 100;
  auto server = HttpServer::Start(options, Echo);
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();

  {
    RawConnection c(port);
    REQUIRE(c.connected());
    c.Send("THIS IS NOT HTTP\r\n\r\n");
    bool closed = false;
    const std::string got = c.ReadUntilClosed(10000, &closed);
    CHECK(got.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(got.find("\"error\"") != std::string::npos);
    CHECK(closed);
  }
  {
    RawConnection c(port);
    c.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
    bool closed = false;
    const std::string got = c.ReadUntilClosed(10000, &closed);
    CHECK(got.rfind("HTTP/1.1 431", 0) == 0);
  }
  {
    RawConnection c(port);
    c.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'b'));
    bool closed = false;
    const std::string got = c.ReadUntilClosed(10000, &closed);
    CHECK(got.rfind("HTTP/1.1 413", 0) == 0);
  }
  // A body within the limit reaches the handler.
  auto r = Fetch(port, "/p", "POST", {{"Content-Type", "text/plain"}});
  CHECK(r.status == 200);
}

TEST_CASE("a slow client is cut off at its deadline and never blocks others") {
  auto server = HttpServer::Start(LocalOptions(), Echo);
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();

  // Slowloris: half a request head, then silence.
  RawConnection slow_head(port);
  REQUIRE(slow_head.connected());
  REQUIRE(slow_head.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  // A body that never arrives.
  RawConnection slow_body(port);
  REQUIRE(slow_body.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc"));
  // Connected, sends nothing at all.
  RawConnection silent(port);
  REQUIRE(silent.connected());

  // 200 requests from 50 connections while they hang.
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&, t] {
      Client client(port);
      for (int i = 0; i < 4; ++i) {
        const std::string target = "/c" + std::to_string(t) + "/" + std::to_string(i);
        auto r = client.Get(target);
        if (r.status == 200 && r.body == "GET " + target + " 0") ++ok;
        else ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok.load() == 200);
  CHECK(bad.load() == 0);

  // The slow ones are closed by the server (deadline 0.7 s; we wait up to 20 s).
  for (RawConnection* c : {&slow_head, &slow_body, &silent}) {
    bool closed = false;
    c->ReadUntilClosed(20000, &closed);
    CHECK(closed);
  }
}

TEST_CASE("a slow handler does not hold up the network threads") {
  std::atomic<bool> release{false};
  auto options = LocalOptions();
  options.handler_threads = 2;
  auto server = HttpServer::Start(options, [&](const Request& req) {
    if (req.target() == "/slow") {
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Echo(req);
  });
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  std::thread slow([&] { CHECK(Fetch(port, "/slow").status == 200); });
  // One handler thread is busy; the other still serves.
  for (int i = 0; i < 20; ++i) CHECK(Fetch(port, "/fast").status == 200);
  release.store(true);
  slow.join();
}

TEST_CASE("a handler that throws gives 500 and the server goes on") {
  auto server = HttpServer::Start(LocalOptions(), [](const Request& req) -> Response {
    if (req.target() == "/boom") throw std::runtime_error("boom");
    return Echo(req);
  });
  REQUIRE(server.ok());
  CHECK(Fetch((*server)->port(), "/boom").status == 500);
  CHECK(Fetch((*server)->port(), "/fine").status == 200);
}

TEST_CASE("connections over the limit are refused, the rest served") {
  auto options = LocalOptions();
  options.max_connections = 2;
  options.header_timeout = std::chrono::milliseconds(5000);
  auto server = HttpServer::Start(options, Echo);
  REQUIRE(server.ok());
  const uint16_t port = (*server)->port();
  RawConnection a(port), b(port);
  REQUIRE(a.Send("GET / HTTP/1.1\r\n"));
  REQUIRE(b.Send("GET / HTTP/1.1\r\n"));
  // Wait until the server counts both.
  for (int i = 0; i < 1000 && (*server)->connections() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE((*server)->connections() == 2);
  RawConnection c(port);
  bool closed = false;
  c.ReadUntilClosed(10000, &closed);
  CHECK(closed);
  a.Send("Host: x\r\n\r\n");
  bool a_closed = false;
  CHECK(a.ReadUntilClosed(20000, &a_closed).rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("listen errors are reported, Stop closes open connections") {
  auto first = HttpServer::Start(LocalOptions(), Echo);
  REQUIRE(first.ok());
  auto options = LocalOptions();
  options.port = (*first)->port();
  auto second = HttpServer::Start(options, Echo);
  CHECK_FALSE(second.ok());
  CHECK(second.status().message().find("listen on 127.0.0.1:") != std::string::npos);

  options.host = "not-an-ip";
  CHECK_FALSE(HttpServer::Start(options, Echo).ok());

  RawConnection idle((*first)->port());
  REQUIRE(idle.Send("GET / HTTP/1.1\r\n"));
  (*first)->Stop();
  bool closed = false;
  idle.ReadUntilClosed(10000, &closed);
  CHECK(closed);
}

TEST_CASE("Stop closes a connection whatever step its accept is at") {
  // Stop right after connect races the accept, the session's first read and
  // the close: each ordering must end with the client seeing the close
  // while the server object still exists.
  for (int round = 0; round < 40; ++round) {
    auto server = HttpServer::Start(LocalOptions(), Echo);
    REQUIRE(server.ok());
    RawConnection idle((*server)->port());
    REQUIRE(idle.connected());
    if (round % 2 == 1) idle.Send("GET / HTTP/1.1\r\n");
    (*server)->Stop();
    bool closed = false;
    idle.ReadUntilClosed(10000, &closed);
    CHECK(closed);
  }
}

}  // namespace
}  // namespace ha_sync::http
