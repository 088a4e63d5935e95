// Which kind of file system a path lives on, as far as the tool's choices
// care: a network file system (every metadata call is a round trip to a
// server) or not.
//
// Thread-safety: pure functions apart from the statfs call.
#pragma once

#include <string>

namespace ha_sync {

// True for the statfs f_type of NFS, SMB/CIFS, FUSE (which is how most
// other remote file systems are mounted) and Ceph.
bool IsNetworkFileSystemType(long f_type);

// statfs(path) and the test above; false when statfs fails (the caller
// reports a missing path where it opens it).
bool OnNetworkFileSystem(const std::string& path);

}  // namespace ha_sync
