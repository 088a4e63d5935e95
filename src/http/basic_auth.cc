#include "http/basic_auth.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "ha_sync/text.h"

namespace ha_sync::http {

namespace {

// Constant time in the contents for equal lengths; the length of the
// expected value is not a secret worth hiding.
bool SameBytes(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<BasicAuth> BasicAuth::FromText(std::string_view text, const std::string& source) {
  BasicAuth auth;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == line.size()) {
      return Status::Error(source + " line " + std::to_string(line_no) +
                           ": expected user:password");
    }
    auth.users_.emplace_back(line);
  }
  if (auth.users_.empty()) return Status::Error(source + " holds no user:password line");
  return auth;
}

Result<BasicAuth> BasicAuth::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "open auth file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return FromText(ss.str(), "auth file '" + EscapeForDisplay(path) + "'");
}

bool BasicAuth::Check(std::string_view authorization) const {
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view encoded = authorization.substr(kScheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  std::string given;
  if (!Base64Decode(encoded, &given)) return false;
  bool ok = false;
  for (const std::string& user : users_) ok = SameBytes(given, user) || ok;
  return ok;
}

}  // namespace ha_sync::http
