// How code below main() sees the process environment: main() is the one
// place that reads it (std::getenv) and hands this lookup, or values taken
// from it, down. Tests pass a lookup over a map instead of setting
// variables on the test process.
//
// Thread-safety: a lookup over std::getenv is safe as long as nobody calls
// setenv; a lookup over a map is as safe as the map.
#pragma once

#include <functional>

namespace ha_sync {

// The value of variable `name`, or nullptr when it is unset. An empty
// EnvLookup means "nothing is set" (see Getenv).
using EnvLookup = std::function<const char*(const char* name)>;

inline const char* Getenv(const EnvLookup& env, const char* name) {
  return env ? env(name) : nullptr;
}

}  // namespace ha_sync
