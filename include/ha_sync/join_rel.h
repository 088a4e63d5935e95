// Relative paths: "dir/name", or "name" in the root ("" or ".").
//
// Thread-safety: a pure function.
#pragma once

#include <string>

namespace ha_sync {

inline std::string JoinRel(const std::string& dir, const std::string& name) {
  return dir.empty() || dir == "." ? name : dir + "/" + name;
}

}  // namespace ha_sync
