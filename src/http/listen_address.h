// "HOST:PORT" for --listen and --status-addr: HOST is an IPv4 literal, an
// IPv6 literal in brackets ("[::1]:8080"), "localhost" (127.0.0.1) or empty
// (":8080", all IPv4 interfaces); PORT is 0-65535 (0: any free port).
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::http {

struct ListenAddress {
  std::string host;  // an IP literal, without brackets
  uint16_t port = 0;
};

Result<ListenAddress> ParseListenAddress(const std::string& text);

}  // namespace ha_sync::http
