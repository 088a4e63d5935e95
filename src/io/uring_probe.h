// Whether io_uring can be used by this process, and why not when it cannot.
//
// io_uring is refused in several real deployments: the RuntimeDefault
// seccomp profiles of containerd 2.x and Docker 25+ block io_uring_setup
// (EPERM or ENOSYS), `kernel.io_uring_disabled` = 2 disables it and = 1
// limits it to `kernel.io_uring_group` (EPERM), and old kernels lack it
// (ENOSYS) or lack opcodes the executor needs. ProbeUring() sets up a small
// ring, asks the kernel which opcodes it supports, and says in one line what
// is missing, so `--io-engine=auto` can fall back with one clear warning.
//
// Thread-safety: reentrant; every call probes afresh (a probe costs one
// ring setup and teardown, microseconds).
#pragma once

#include <string>
#include <vector>

#include "ha_sync/status.h"

namespace ha_sync::io {

struct UringSupport {
  bool usable = false;
  // Not ok when io_uring cannot be used: the message says why (refusal with
  // its errno and the likely cause, or the missing opcodes); err() is the
  // errno of a refused setup, 0 when only opcodes are missing.
  Status status;
  std::vector<std::string> missing_ops;  // names of required opcodes the kernel lacks
};

// Probes for the opcodes the io_uring executor uses: statx, openat2, read/
// write fixed, read, write, close, renameat, unlinkat, mkdirat, symlinkat, fsync.
UringSupport ProbeUring();

}  // namespace ha_sync::io
