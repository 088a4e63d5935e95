#include "io/dir_entry.h"

#include <cstdio>

namespace ha_sync::io {

namespace {
constexpr std::string_view kTempPrefix = ".ha-sync.";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr size_t kRandomHexLen = 16;
constexpr size_t kMaxNameLen = 255;
}  // namespace

const char* ToString(FileType type) {
  switch (type) {
    case FileType::kFile: return "file";
    case FileType::kDir: return "directory";
    case FileType::kSymlink: return "symlink";
    case FileType::kOther: return "special file";
  }
  return "?";
}

bool IsSyncTempName(const std::string& name) {
  // prefix + at least "." + 16 hex + suffix
  if (name.size() < kTempPrefix.size() + 1 + kRandomHexLen + kTempSuffix.size()) return false;
  if (name.compare(0, kTempPrefix.size(), kTempPrefix) != 0) return false;
  if (name.compare(name.size() - kTempSuffix.size(), kTempSuffix.size(), kTempSuffix) != 0) {
    return false;
  }
  const size_t hex_start = name.size() - kTempSuffix.size() - kRandomHexLen;
  if (name[hex_start - 1] != '.') return false;
  for (size_t i = hex_start; i < hex_start + kRandomHexLen; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

uint32_t SyncTempTag(const std::string& temp_name) {
  const size_t hex_start = temp_name.size() - kTempSuffix.size() - kRandomHexLen;
  return static_cast<uint32_t>(std::stoul(temp_name.substr(hex_start, 8), nullptr, 16));
}

std::string MakeSyncTempName(const std::string& name, uint64_t random) {
  char hex[kRandomHexLen + 1];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random));
  const size_t overhead = kTempPrefix.size() + 1 + kRandomHexLen + kTempSuffix.size();
  std::string part = name.substr(0, kMaxNameLen - overhead);
  std::string out;
  out.reserve(overhead + part.size());
  out.append(kTempPrefix).append(part).append(".").append(hex).append(kTempSuffix);
  return out;
}

}  // namespace ha_sync::io
