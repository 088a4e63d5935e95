#include "support/test_client.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

namespace ha_sync::http::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

Client::Client(uint16_t port) : port_(port), stream_(ioc_) {}

bool Client::Connect(std::string* error) {
  beast::error_code ec;
  stream_.socket().close(ec);
  stream_.expires_after(std::chrono::seconds(30));
  stream_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  if (ec) {
    *error = "connect: " + ec.message();
    return false;
  }
  buffer_.clear();
  connected_ = true;
  return true;
}

Reply Client::Send(const std::string& method, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
  Reply reply;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = connected_;
    if (!connected_ && !Connect(&reply.error)) return reply;
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    if (req.method() == bhttp::verb::unknown) req.method_string(method);
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(true);
    beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    bhttp::write(stream_, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256 << 20);
    parser.skip(method == "HEAD");
    if (!ec) bhttp::read(stream_, buffer_, parser, ec);
    if (ec) {
      connected_ = false;
      reply.error = ec.message();
      if (reused) continue;  // the server closed an idle connection: retry once
      return reply;
    }
    auto res = parser.release();
    reply.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.body = std::move(res.body());
    if (!res.keep_alive()) connected_ = false;
    reply.error.clear();
    return reply;
  }
  return reply;
}

Reply Fetch(uint16_t port, const std::string& target, const std::string& method,
            const std::vector<std::pair<std::string, std::string>>& headers) {
  Client client(port);
  return client.Send(method, target, headers);
}

RawConnection::RawConnection(uint16_t port) : socket_(ioc_) {
  beast::error_code ec;
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  connected_ = !ec;
}

bool RawConnection::Send(const std::string& bytes) {
  beast::error_code ec;
  asio::write(socket_, asio::buffer(bytes), ec);
  return !ec;
}

std::string RawConnection::ReadUntilClosed(int timeout_ms, bool* closed) {
  std::string out;
  *closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return out;
    pollfd pfd{socket_.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) return out;
    char buf[4096];
    beast::error_code ec;
    const size_t n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) {
      *closed = true;
      return out;
    }
    out.append(buf, n);
  }
}

}  // namespace ha_sync::http::testing
