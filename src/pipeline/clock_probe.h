// Measures, for one root, how far the clock that stamps its mtimes (the NFS
// server's) is from ours, and how precise the mtimes it keeps are: a probe
// file ".ha-sync-probe-<run-id>" is created, its server-assigned mtime read
// back, a known nanosecond mtime set and read back, and the file removed.
//
// ProbeDestClock() is a run's clock step (engine.cc, not in dry-run).
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <optional>
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

struct ClockStep {
  int64_t window_ns = 0;                // the mtime window the run plans with
  std::optional<int64_t> skew_ns;       // |dest's offset|; unset: not measured
  std::optional<int64_t> precision_ns;  // dest's mtime precision; unset: not measured
  std::string warning;                  // for the run's warnings; empty: none
};

// Only dest is probed: a one-way run never writes to its source. Dest's
// clock is measured against this node's; the reverse run measures the
// other root the same way, so both are bounded against one reference.
// A probe that fails leaves the window at threshold_ns (and says so in
// `warning`); a skew beyond warn_skew_ns is warned about.
ClockStep ProbeDestClock(int dest_root_fd, const std::string& run_id, const std::string& dest_root,
                         int64_t threshold_ns, int64_t warn_skew_ns);

}  // namespace ha_sync::pipeline
