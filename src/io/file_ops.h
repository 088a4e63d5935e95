// Small filesystem operations, all relative to an open directory fd and
// none following a symlink, so no operation can leave the roots.
// Each returns a Status naming the path it acted on (`display` is the path
// relative to the root, used only in messages).
//
// Thread-safety: reentrant. The ownership warning is process-wide and
// thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::io {

// Opens a directory given as a path relative to root_fd, refusing symlinks
// and ".." anywhere in it (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a
// component-by-component O_NOFOLLOW walk where openat2 is missing).
Result<int> OpenDirBeneath(int root_fd, const std::string& rel_path);
// Whether `path` is a plain relative path: not empty, no NUL byte, no
// leading '/', and no empty, "." or ".." component (so no trailing or
// doubled '/'). Every path read back from a file ha-sync wrote (the undo
// manifest) must be one before it is used under a root.
bool IsPlainRelativePath(std::string_view path);
// Opens the directory root_fd/rel_path, creating each missing component
// with `mode`. Each component is opened with O_NOFOLLOW, so a symlink
// anywhere in the path is refused, never followed, and nothing is created
// outside the root. `rel_path` must be plain (IsPlainRelativePath) or empty
// (the root itself).
Result<int> MakeDirsBeneath(int root_fd, const std::string& rel_path, mode_t mode);
// Opens one child directory, refusing a symlink in its place.
Result<int> OpenChildDir(int dirfd, const std::string& name, const std::string& display);
// Opens a root given by the user (symlinks in the root path itself are fine).
Result<int> OpenRoot(const std::string& path);

Status MakeDir(int dirfd, const std::string& name, const std::string& display);
// renameat that never replaces `to`: 0, or -errno (-EEXIST when `to`
// exists). RENAME_NOREPLACE where the file system takes it; NFS takes no
// rename flags, so there `to` is looked up right before a plain rename
// (a window of that lookup, which the NFS client may answer from its cache:
// up to acdirmax, 60 s by default, for a file another client made).
int RenameNoReplace(int from_dirfd, const std::string& from, int to_dirfd, const std::string& to);
// Removes a file, symlink or empty directory.
Status RemoveEntry(int dirfd, const std::string& name, bool is_dir, const std::string& display);
// Sets atime/mtime of dirfd/name without following a symlink.
Status SetTimes(int dirfd, const std::string& name, int64_t atime_ns, int64_t mtime_ns,
                const std::string& display);

// Applies mode, owner (when permitted) and times to an open fd. Each is a
// round trip (SETATTR) on NFS, and a chown after writes costs a GETATTR
// too: the mode is skipped when `mode_is_set` (the file was created with
// exactly like.mode, see CreateModeFor), the owner when `owner_is_set`
// (see HasOwner).
Status ApplyAttributes(int fd, const Entry& like, const std::string& display, bool mode_is_set = false,
                       bool owner_is_set = false);

// Whether the file open as fd is owned by uid:gid already. Meant right after
// creating it: its attributes then come with the create's reply (NFS and
// FUSE cache them), so this costs no round trip, where asking after writes
// would.
bool HasOwner(int fd, uid_t uid, gid_t gid);

// The mode to create a file with so that it needs no chmod afterwards.
struct CreateMode {
  mode_t mode;  // to pass to open/openat2
  bool exact;   // the file will have exactly `wanted`
};
// `wanted` (exact) when it has no set-id or sticky bit, lets the owner read
// and write, and the process umask (read once, from /proc) keeps it whole;
// else 0600, not exact (a chmod must follow).
CreateMode CreateModeFor(mode_t wanted);

// Owner and group are preserved only when running as root and the
// filesystem allows it (no root-squash). The first refusal prints one
// warning and later attempts are skipped.
bool ShouldPreserveOwner();
void ReportOwnerRefused(const std::string& display, int err);

// A random 64-bit value for temp names (per-thread generator).
uint64_t RandomU64();
// Random low 32 bits under `tag` (the random part of a tagged temp name).
uint64_t TaggedRandom(uint32_t tag);

}  // namespace ha_sync::io
