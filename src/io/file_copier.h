// The seam between the engine and the way file data is copied: the engine
// calls FileCopier::Copy() from its worker threads, one file per call, and
// every implementation keeps CopyFileAtomic()'s contract exactly (temp name
// beside the target, O_EXCL|O_NOFOLLOW, inline MD5 in offset order, holes for
// all-zero blocks, attributes, source-changed check, rename into place, temp
// removed on any error or cancel). See file_copy.h for that contract.
//
// ThreadCopier runs CopyFileAtomic() on the calling thread (blocking
// syscalls). UringCopier (uring_copier.h) runs the same steps as io_uring
// requests on one shared ring.
//
// Thread-safety: Copy() may be called from many threads at once.
#pragma once

#include <string>

#include "ha_sync/status.h"
#include "io/file_copy.h"

namespace ha_sync::io {

class FileCopier {
 public:
  virtual ~FileCopier() = default;
  // src_dirfd/name -> dest_dirfd/name; `display` is the relative path for messages.
  virtual Status Copy(int src_dirfd, int dest_dirfd, const std::string& name,
                      const std::string& display, const CopyOptions& options, CopyOutcome* out) = 0;
};

class ThreadCopier : public FileCopier {
 public:
  Status Copy(int src_dirfd, int dest_dirfd, const std::string& name, const std::string& display,
              const CopyOptions& options, CopyOutcome* out) override {
    return CopyFileAtomic(src_dirfd, dest_dirfd, name, display, options, out);
  }
};

}  // namespace ha_sync::io
