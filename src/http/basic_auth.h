// Optional HTTP basic authentication for the dashboard. Credentials are
// "user:password" lines (a file given by --auth-file, or the value of
// HA_SYNC_UI_BASIC_AUTH; several lines: several users). Empty lines and
// lines starting with '#' are ignored; a line without ':' or with an empty
// user or password is an error that names the line number, never its text.
//
// Check() compares in time independent of where the strings differ, so the
// password cannot be guessed byte by byte from response times.
//
// Thread-safety: immutable after construction; Check() from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ha_sync/status.h"

namespace ha_sync::http {

class BasicAuth {
 public:
  BasicAuth() = default;
  static Result<BasicAuth> FromText(std::string_view text, const std::string& source);
  static Result<BasicAuth> FromFile(const std::string& path);

  bool enabled() const { return !users_.empty(); }
  // True when the Authorization header value carries a known user:password.
  bool Check(std::string_view authorization) const;
  // The WWW-Authenticate value of a 401.
  static const char* Challenge() { return "Basic realm=\"ha-sync\", charset=\"UTF-8\""; }

 private:
  std::vector<std::string> users_;  // "user:password"
};

}  // namespace ha_sync::http
