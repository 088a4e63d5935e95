#include "ha_sync/file_system_kind.h"

#include <sys/vfs.h>

namespace ha_sync {

bool IsNetworkFileSystemType(long f_type) {
  // The magic numbers of linux/magic.h and the SMB2/CIFS ones, spelled out:
  // not every header set defines all of them.
  constexpr long kNfs = 0x6969, kSmb = 0x517B, kCifs = 0xFF534D42, kSmb2 = 0xFE534D42;
  constexpr long kFuse = 0x65735546, kCeph = 0x00C36400;
  return f_type == kNfs || f_type == kSmb || f_type == kCifs || f_type == kSmb2 ||
         f_type == kFuse || f_type == kCeph;
}

bool OnNetworkFileSystem(const std::string& path) {
  struct statfs sf;
  if (::statfs(path.c_str(), &sf) != 0) return false;
  return IsNetworkFileSystemType(static_cast<long>(sf.f_type));
}

}  // namespace ha_sync
