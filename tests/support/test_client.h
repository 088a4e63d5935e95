// Test support (linked into the http test program only): a blocking HTTP/1.1
// client on Beast for 127.0.0.1, and a raw socket for misbehaving clients.
//
// Thread-safety: one client object per thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ha_sync::http::testing {

struct Reply {
  int status = 0;             // 0: no answer (connection failed or closed)
  std::string error;          // why there is no answer
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One kept-alive connection; Send() reconnects when the server closed it.
class Client {
 public:
  explicit Client(uint16_t port);
  Reply Send(const std::string& method, const std::string& target,
             const std::vector<std::pair<std::string, std::string>>& headers = {});
  Reply Get(const std::string& target) { return Send("GET", target); }

 private:
  bool Connect(std::string* error);
  uint16_t port_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

// A single request on a fresh connection.
Reply Fetch(uint16_t port, const std::string& target, const std::string& method = "GET",
            const std::vector<std::pair<std::string, std::string>>& headers = {});

// A plain TCP connection to 127.0.0.1:port for sending arbitrary bytes.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes);
  // Reads until the peer closes or `timeout_ms` passes; returns what came.
  // *closed tells whether the peer closed the connection.
  std::string ReadUntilClosed(int timeout_ms, bool* closed);

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  bool connected_ = false;
};

}  // namespace ha_sync::http::testing
