// Measures, for one root, how far the clock that stamps its mtimes (the NFS
// server's) is from ours, and how precise the mtimes it keeps are: a probe
// file ".ha-sync-probe-<run-id>" is created, its server-assigned mtime read
// back, a known nanosecond mtime set and read back, and the file removed.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::pipeline {

struct ClockReading {
  int64_t offset_ns = 0;     // server mtime clock minus our clock (+- half the round trip)
  int64_t precision_ns = 1;  // 1 (ns), 1000 (us), ..., 1e9 (whole seconds)
};

Result<ClockReading> ProbeClock(int root_fd, const std::string& run_id, const std::string& display);

// The widened mtime window: max(threshold, both precisions, skew between the roots).
int64_t ClockWindowNs(int64_t threshold_ns, const ClockReading& src, const ClockReading& dest);

}  // namespace ha_sync::pipeline
