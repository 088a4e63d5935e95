// Copies one file or symlink into a destination directory atomically: the
// data goes to ".ha-sync.<name>.<random>.tmp" beside the target, mode,
// owner (when permitted) and nanosecond times are applied to the temp file,
// and renameat() puts it in place (for files, temp_copy.h's TempCopy does
// all of that but the data). A crash leaves the old file or the new one,
// never a partial one; on any error the temp file is removed.
//
// The source is checked before and after the copy (size and mtime); a
// change discards the copy with a "source changed during copy" error.
//
// Thread-safety: reentrant; `cancel` may be set from another thread and is
// polled between blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "io/temp_copy.h"  // PlannedTarget

namespace ha_sync::io {

struct CopyOptions {
  size_t block_size = 1 << 20;
  bool fsync = false;                          // fsync the temp file before rename
  const std::atomic<bool>* cancel = nullptr;   // abort when it turns true
  // Test seam: sleep this long after each block so tests can act mid-copy
  // (set from HA_SYNC_TEST_BLOCK_DELAY_MS; 0 in production).
  int block_delay_ms = 0;
  // The source's size as listed (-1: unknown). Only a hint for choosing how
  // to copy (uring_copier.h); the copy itself stats the open source.
  int64_t expected_size = -1;
  // The source's mode bits as listed (-1: unknown). Only a hint: a temp file
  // created before the source is stat'ed gets it, saving a chmod when the
  // stat agrees (uring_copier.h).
  int expected_mode = -1;
  // The run's tag in temp names (dir_entry.h, SyncTempTag); 0: untagged.
  uint32_t temp_tag = 0;
  // A create: the target was absent when planned, and a file that appears
  // under its name meanwhile is never replaced (temp_copy.h, step 6).
  bool no_replace = false;
  // An update: the target as listed; a file changed on dest meanwhile is
  // never replaced (temp_copy.h, step 6).
  std::optional<PlannedTarget> replaces;
};

struct CopyOutcome {
  int64_t bytes = 0;     // size of the new file
  std::string md5;       // of the data written (empty for symlinks)
  Entry source;          // source attributes as copied
};

// src_dirfd/name -> dest_dirfd/name. `display` is the relative path for messages.
Status CopyFileAtomic(int src_dirfd, int dest_dirfd, const std::string& name,
                      const std::string& display, const CopyOptions& options, CopyOutcome* out);

// Re-creates the symlink `like` (its target and times) as dest_dirfd/name.
// `no_replace` (a create) and `replaces` (an update: the symlink as
// listed) keep an entry put there meanwhile, as a file copy does
// (temp_copy.h, step 6).
Status CopySymlinkAtomic(int dest_dirfd, const Entry& like, const std::string& display, uint32_t temp_tag = 0,
                         bool no_replace = false, std::optional<PlannedTarget> replaces = std::nullopt);

// MD5 of the regular file dirfd/name (not following a symlink).
Status HashFile(int dirfd, const std::string& name, const std::string& display,
                const CopyOptions& options, std::string* md5_hex);

}  // namespace ha_sync::io
