#include "ha_sync/file_system_kind.h"

#include <doctest/doctest.h>
#include <sys/vfs.h>

namespace ha_sync {
namespace {

TEST_CASE("network file system types are told from local ones") {
  CHECK(IsNetworkFileSystemType(0x6969));              // NFS
  CHECK(IsNetworkFileSystemType(0xFE534D42));          // SMB2
  CHECK(IsNetworkFileSystemType(0xFF534D42));          // CIFS
  CHECK(IsNetworkFileSystemType(0x65735546));          // FUSE
  CHECK(IsNetworkFileSystemType(0x00C36400));          // Ceph
  CHECK_FALSE(IsNetworkFileSystemType(0xEF53));        // ext4
  CHECK_FALSE(IsNetworkFileSystemType(0x01021994));    // tmpfs
  CHECK_FALSE(IsNetworkFileSystemType(0x58465342));    // xfs
  CHECK_FALSE(IsNetworkFileSystemType(0x794C7630));    // overlayfs
}

TEST_CASE("a path's file system is read with statfs") {
  struct statfs sf;
  REQUIRE(::statfs("/proc", &sf) == 0);
  CHECK_FALSE(OnNetworkFileSystem("/proc"));  // procfs is local everywhere
  CHECK_FALSE(OnNetworkFileSystem("/no/such/path/at/all"));
  struct statfs here;
  REQUIRE(::statfs(".", &here) == 0);
  CHECK(OnNetworkFileSystem(".") == IsNetworkFileSystemType(static_cast<long>(here.f_type)));
}

}  // namespace
}  // namespace ha_sync
