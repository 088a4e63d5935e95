#include "ha_sync/status.h"

#include <cstring>

#include "ha_sync/text.h"

namespace ha_sync {

Status Status::FromErrno(int err, std::string_view op, std::string_view path) {
  std::string message;
  message.reserve(op.size() + path.size() + 48);
  message.append(op);
  message.append(" '");
  message.append(EscapeForDisplay(path));
  message.append("': ");
  char buf[256];
  // GNU strerror_r returns the text, possibly not in buf.
  message.append(strerror_r(err, buf, sizeof buf));
  return Error(std::move(message), err);
}

}  // namespace ha_sync
