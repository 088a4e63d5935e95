#include "http/query.h"

#include <cerrno>
#include <cstdlib>

#include "ha_sync/text.h"

namespace ha_sync::http {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded in the query ('+' is a space), plain
// percent-decoding in the path.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

std::string Quote(std::string_view value) {
  std::string shown = EscapeForDisplay(value.substr(0, 64));
  if (value.size() > 64) shown += "...";
  return "'" + shown + "'";
}

}  // namespace

Result<Target> ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') return Status::Error("request target must start with '/'");
  Target t;
  const size_t q = target.find('?');
  if (!PercentDecode(target.substr(0, q), false, &t.path)) {
    return Status::Error("bad percent-encoding in the path");
  }
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string name, value;
    if (!PercentDecode(pair.substr(0, eq), true, &name) ||
        (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), true, &value))) {
      return Status::Error("bad percent-encoding in the query");
    }
    if (!t.params.emplace(name, value).second) {
      return Status::Error("parameter " + Quote(name) + " is given more than once");
    }
  }
  return t;
}

Result<std::optional<int64_t>> IntParam(const Target& t, const std::string& name, int64_t min,
                                        int64_t max) {
  auto it = t.params.find(name);
  if (it == t.params.end() || it->second.empty()) return std::optional<int64_t>();
  const std::string& text = it->second;
  const auto range = "parameter '" + name + "' must be a whole number from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", got " + Quote(text);
  const bool negative = text[0] == '-';
  const std::string digits = negative ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 19 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Error(range);
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return Status::Error(range);
  return std::optional<int64_t>(v);
}

Result<std::optional<std::string>> TextParam(const Target& t, const std::string& name,
                                             size_t max_chars) {
  auto it = t.params.find(name);
  if (it == t.params.end() || it->second.empty()) return std::optional<std::string>();
  const std::string& text = it->second;
  if (!IsValidUtf8(text)) {
    return Status::Error("parameter '" + name + "' is not valid UTF-8: " + Quote(text));
  }
  size_t chars = 0;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return Status::Error("parameter '" + name + "' holds a control character: " + Quote(text));
    }
    if ((c & 0xC0) != 0x80) ++chars;
  }
  if (chars > max_chars) {
    return Status::Error("parameter '" + name + "' is longer than " + std::to_string(max_chars) +
                         " characters");
  }
  return std::optional<std::string>(text);
}

Status OnlyKnownParams(const Target& t, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : t.params) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == name;
    if (!ok) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return Status::Error("unknown parameter " + Quote(name) +
                           (list.empty() ? "; this route takes none" : "; known: " + list));
    }
  }
  return Status::Ok();
}

}  // namespace ha_sync::http
