// One directory entry as the planner sees it: the name (raw bytes), the type
// and the attributes that decide whether it is in sync. Never followed: a
// symlink is described as a symlink.
//
// Thread-safety: plain value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ha_sync::io {

enum class FileType : uint8_t { kFile, kDir, kSymlink, kOther };
const char* ToString(FileType type);  // "file" | "directory" | "symlink" | "special file"

struct Entry {
  std::string name;
  FileType type = FileType::kOther;
  int64_t size = 0;
  int64_t mtime_ns = 0;  // ns since the epoch
  int64_t atime_ns = 0;
  mode_t mode = 0;       // permission bits (07777)
  uid_t uid = 0;
  gid_t gid = 0;
  std::string link_target;  // kSymlink only
};

// Temp files of ha-sync runs: ".ha-sync.<name>.<random>.tmp", <random> 16
// hex digits whose first 8 are the run's tag (see SyncTempTag). They are
// never copied; a later run removes one from dest only when its tag proves
// a run of the same pair made it (pipeline/temp_tags.h).
bool IsSyncTempName(const std::string& name);
// The temp name for `name`, shortened so it fits in 255 bytes.
std::string MakeSyncTempName(const std::string& name, uint64_t random);
// The tag of a name for which IsSyncTempName() holds: the high 32 bits of
// its <random> part (0 for untagged names).
uint32_t SyncTempTag(const std::string& temp_name);

}  // namespace ha_sync::io
