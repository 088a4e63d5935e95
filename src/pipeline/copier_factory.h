// Chooses how a run copies file data (--io-engine): io::UringCopier when
// options.io_uring (the caller has probed that io_uring works) and the run
// writes, io::ThreadCopier otherwise (a dry-run copies nothing). With
// io_uring, copy_file_range is used only when both roots are on one
// filesystem (io/uring_copier.h).
//
// Thread-safety: reentrant; the copier it returns is safe to call from
// many threads (io/file_copier.h).
#pragma once

#include <memory>

#include "ha_sync/status.h"
#include "io/file_copier.h"
#include "pipeline/engine.h"

namespace ha_sync::pipeline {

// An error only when the io_uring ring cannot be set up.
Result<std::unique_ptr<io::FileCopier>> MakeCopier(const EngineOptions& options, int src_root_fd,
                                                   int dest_root_fd);

}  // namespace ha_sync::pipeline
