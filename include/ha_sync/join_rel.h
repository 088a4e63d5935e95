// Relative paths: "dir/name", or "name" in the root ("" or ".").
//
// Thread-safety: a pure function.
#pragma once

#include <string>

namespace ha_sync {

inline std::string JoinRel(const std::string& dir, const std::string& name) {
  return dir.empty() || dir == "." ? name : dir + "/" + name;
}

// The inverse: "a/b/c" -> "a/b" and "c"; "c" -> "" and "c".
inline void SplitRel(const std::string& rel, std::string* dir, std::string* name) {
  const size_t slash = rel.rfind('/');
  *dir = slash == std::string::npos ? std::string() : rel.substr(0, slash);
  *name = slash == std::string::npos ? rel : rel.substr(slash + 1);
}

}  // namespace ha_sync
