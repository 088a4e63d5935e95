// Request targets: "/path?a=1&b=x" split into a path and decoded query
// parameters, and strict readers for parameter values. Every problem is a
// message meant for a 400 answer; it quotes the offending value escaped for
// display, never raw.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ha_sync/status.h"

namespace ha_sync::http {

struct Target {
  std::string path;                           // percent-decoded
  std::map<std::string, std::string> params;  // name -> percent-decoded value
};

// Fails on a bad percent escape, a repeated parameter or a target that is
// not an origin-form path ("/...").
Result<Target> ParseTarget(std::string_view target);

// The parameter as a whole number in [min, max]; absent or empty: nullopt.
// Anything else ("abc", "1e3", " 5", "-", out of range) is an error.
Result<std::optional<int64_t>> IntParam(const Target& t, const std::string& name, int64_t min,
                                        int64_t max);
// The parameter as text of at most max_chars UTF-8 characters; absent or
// empty: nullopt. Invalid UTF-8 or control characters are an error.
Result<std::optional<std::string>> TextParam(const Target& t, const std::string& name,
                                             size_t max_chars);
// Fails when a parameter other than `known` is present (a typo such as
// "iteration=" must not silently return everything).
Status OnlyKnownParams(const Target& t, std::initializer_list<std::string_view> known);

}  // namespace ha_sync::http
