// The temp file of one copy and the step that puts it in place, shared by
// both copiers (CopyFileAtomic in file_copy.h, UringCopier in
// uring_copier.h) so file_copier.h's contract has one implementation.
//
// The temp file is ".ha-sync.<name>.<random>.tmp" beside the target
// (dir_entry.h, MakeSyncTempName; the run's tag in the random part),
// created O_EXCL|O_NOFOLLOW. Commit() is the whole ending of a copy:
//   1. ftruncate to the source's size when the data ended in a hole
//      (all-zero blocks are not written);
//   2. owner (when permitted), mode and nanosecond times of the source
//      (file_ops.h, ApplyAttributes), each skipped when already right;
//   3. fsync when asked;
//   4. close: on NFS a late write error surfaces here, so it must succeed
//      before the rename;
//   5. a last cancel check (no new file appears once the run is stopping);
//   6. renameat over the target; for a create (no_replace) a rename that
//      never replaces: a file that appeared under the name while the copy
//      ran stays, and the copy fails (EEXIST). RENAME_NOREPLACE where the
//      file system takes it; NFS takes no rename flags, so there the name
//      is looked up right before a plain rename (a window: NFS may answer
//      the lookup from its cache, see io::RenameNoReplace).
//      For an update (`replaces`), the target is looked up right before the
//      rename and must still have the size and mtime it was planned with:
//      a file edited or replaced on dest while the copy ran stays, and the
//      copy fails (EBUSY).
// Until Commit() succeeds the target is untouched. A failed Commit(), or
// destroying a TempCopy that was never committed, closes and unlinks the
// temp file: a failed or abandoned copy leaves nothing behind.
//
// The fsync, close and rename go through CommitCalls so that UringCopier
// can run them as ring requests; the default is blocking syscalls.
//
// Also here, for both copiers: the all-zero test for holes, and the errors
// of a cancelled copy and of a source that changed while it was copied.
//
// Thread-safety: one TempCopy per copy, used from one thread at a time;
// the free functions are reentrant.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::io {

// The three steps of Commit() an io_uring copy submits to its ring. Each
// returns 0 or -errno, like a completion's result.
class CommitCalls {
 public:
  virtual ~CommitCalls() = default;
  virtual int Fsync(int fd);
  // The fd is gone afterwards whatever the result (close(2) on Linux).
  virtual int Close(int fd);
  // `no_replace`: never over an existing `to` (-EEXIST), see step 6.
  virtual int Rename(int dirfd, const std::string& from, const std::string& to, bool no_replace);
};

// The target an update was planned to replace, as it was listed.
struct PlannedTarget {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

// What Commit() needs besides the source's attributes.
struct CommitOptions {
  // End of the last block written (-1: unknown, always ftruncate to the
  // source's size). Short of the size when trailing zeros were left as a hole.
  int64_t written_end = -1;
  // The file was created with exactly the source's mode (file_ops.h,
  // CreateModeFor): no chmod.
  bool mode_is_set = false;
  // The file already has the source's owner (file_ops.h, HasOwner, asked
  // right after the create where it costs no round trip): no chown.
  bool owner_is_set = false;
  bool fsync = false;
  const std::atomic<bool>* cancel = nullptr;  // checked before the rename
  bool no_replace = false;  // a create: step 6 never replaces a file
  std::optional<PlannedTarget> replaces;  // an update: step 6 checks the target first
};

// True when the `n` bytes at `p` are all zero: both copiers leave such a
// block unwritten, a hole (Commit() extends the file over a trailing one).
bool AllZero(const char* p, size_t n);
// Whether `cancel` (may be null) turned true.
bool CopyCancelled(const std::atomic<bool>* cancel);
// "copy of '<display>' aborted: run is stopping" (ECANCELED).
Status CopyCancelledStatus(const std::string& display);
// The source's size or mtime moved while it was copied (the next run retries).
Status SourceChangedStatus(const std::string& display);
// A create's target appeared meanwhile (EEXIST), or an update's target is
// no longer as planned (EBUSY): the user's entry stays, the copy is dropped.
Status AppearedOnDestStatus(const std::string& display);
Status ChangedOnDestStatus(const std::string& display);

class TempCopy {
 public:
  // Picks the temp name for dest_dirfd/name; nothing is created yet.
  // `display` is the relative path for messages.
  TempCopy(int dest_dirfd, std::string name, uint32_t temp_tag, std::string display);
  ~TempCopy();
  TempCopy(const TempCopy&) = delete;
  TempCopy& operator=(const TempCopy&) = delete;

  // Creates the temp file with `mode` (blocking openat).
  Status Create(mode_t mode);
  // Takes the result of creating temp_name() elsewhere (UringCopier's
  // openat2 on the ring): the fd, or -errno, reported as Create would.
  Status Adopt(int fd_or_negative_errno);

  const std::string& temp_name() const { return temp_; }
  int fd() const { return fd_; }  // -1 before Create/Adopt and after Commit

  // Steps 1-6 above with the attributes of `source` (its size, mode, uid,
  // gid, atime and mtime). On error the temp file is already removed.
  Status Commit(const Entry& source, const CommitOptions& options, CommitCalls* calls = nullptr);

 private:
  Status Finish(const Entry& source, const CommitOptions& options, CommitCalls* calls);
  // Closes (if open) and unlinks the temp file once it was created.
  void Discard();

  const int dirfd_;
  const std::string name_;
  const std::string display_;
  const std::string temp_;
  int fd_ = -1;
  bool exists_ = false;  // created and neither renamed nor unlinked
};

}  // namespace ha_sync::io
