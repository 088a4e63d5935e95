#include "http/listen_address.h"

#include <boost/asio/ip/address.hpp>

namespace ha_sync::http {

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  const auto bad = [&text](const std::string& why) {
    return Status::Error("'" + text + "' is not HOST:PORT (" + why + ")");
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("no ':PORT'");
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    if (ec || !addr.is_v6()) return bad("not an IPv6 address in brackets");
  } else if (host.empty()) {
    host = "0.0.0.0";
  } else if (host == "localhost") {
    host = "127.0.0.1";
  } else {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    if (ec || !addr.is_v4()) return bad("the host must be an IP address, [IPv6] or localhost");
  }
  ListenAddress out;
  out.host = host;
  out.port = static_cast<uint16_t>(std::stoi(port));
  return out;
}

}  // namespace ha_sync::http
