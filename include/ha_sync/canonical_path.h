// The one spelling of a path that two mentions of the same directory share,
// for comparing paths the user gave (a log directory inside a root, the
// destination an undo names against the one its run had).
//
// Thread-safety: pure functions apart from realpath's filesystem lookups.
#pragma once

#include <string>

namespace ha_sync {

// Lexically normalised absolute path: no ".", "..", duplicate or trailing '/'.
std::string NormalizePath(const std::string& path);
// The real path (symlinks resolved) when it exists, else NormalizePath().
std::string CanonicalPath(const std::string& path);

}  // namespace ha_sync
