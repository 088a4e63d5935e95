// Lists one directory through an open directory fd: every entry except
// "." and "..", with lstat attributes (never following symlinks) and link
// targets, sorted by name bytes.
//
// Thread-safety: reentrant. ListDirectory does not move `dirfd`'s offset (it
// reads through a duplicate); OpenAndListChild reads through the fd it opens.
#pragma once

#include <string>
#include <vector>

#include "ha_sync/status.h"
#include "ha_sync/unique_fd.h"
#include "io/dir_entry.h"

namespace ha_sync::io {

// `display_path` only names the directory in errors. An entry that vanishes
// between listing and lstat is left out (it no longer exists).
Status ListDirectory(int dirfd, const std::string& display_path, std::vector<Entry>* entries);

// Opens the subdirectory `name` of parent_fd (never through a symlink) into
// *fd and lists it: how the sync's walk lists every directory below a root
// (pipeline/walker.h), and what `--bench` scans with. `display_path` names
// the subdirectory in errors; *fd is left closed when the open fails. One
// open per directory: on NFS and FUSE each open is a round trip.
Status OpenAndListChild(int parent_fd, const std::string& name, const std::string& display_path,
                        UniqueFd* fd, std::vector<Entry>* entries);

// Which file an open fd is: its device and inode, from the attributes the
// kernel has cached (AT_STATX_DONT_SYNC: no round trip on NFS or FUSE;
// neither ever changes for an open file). False when they cannot be had.
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileIdentity&) const = default;
};
bool IdentityOf(int fd, FileIdentity* id);

// Whether dirfd/name is still the entry the walk listed: the same type
// and, for a file, the same size; for a file or symlink the same mtime (a
// directory: its type only). An error (ENOENT among them, `display` naming
// it) when it cannot be looked up. Asked right before a change to dest, so
// that an entry edited since is never replaced nor deleted.
Result<bool> StillAsListed(int dirfd, const std::string& name, const std::string& display, FileType type,
                           int64_t size, int64_t mtime_ns);

// Fills `entry` from an lstat-like call on dirfd/name.
Status StatEntry(int dirfd, const std::string& name, const std::string& display_path, Entry* entry);

}  // namespace ha_sync::io
