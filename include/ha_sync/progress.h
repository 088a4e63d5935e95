// What a running sync is doing, as counters the engine updates and the
// live status page (src/http/live_status.h, docs/api.md) reads: the stage,
// operations per kind, bytes. Shared by the engine and the HTTP side so
// that the status page does not depend on the engine.
//
// Thread-safety: every counter is atomic; see Progress for the one group
// that is read together under ops_mu.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace ha_sync {

// What a run is doing (the live status page, docs/api.md): scanning walks
// the trees while copies run; copying waits for the last copies; deleting
// runs the spooled deletes.
enum class Stage : int { kStarting, kProbing, kScanning, kCopying, kDeleting, kFinishing, kDone };
inline constexpr int kStageCount = static_cast<int>(Stage::kDone) + 1;
const char* ToString(Stage stage);

struct Progress {
  std::atomic<int64_t> dirs_scanned{0};
  std::atomic<int64_t> entries_scanned{0};
  std::atomic<int64_t> ops_done{0};
  std::atomic<int64_t> bytes_done{0};
  std::atomic<int64_t> queued{0};
  // For the live status: per OpKind (index static_cast<int>(OpKind)),
  // operations finished (ok / failed) and decided on but not finished yet
  // (file work submitted, deletes spooled); and the bytes still to copy.
  // An operation leaves `pending` in the same step as it enters `done` or
  // `failed`, under ops_mu; a reader that takes ops_mu while it loads
  // done, failed, pending, bytes_done and bytes_pending sees every
  // operation exactly once (planned = done + failed + pending).
  std::atomic<int> stage{static_cast<int>(Stage::kStarting)};
  std::atomic<int64_t> stage_started_ms{0};
  mutable std::mutex ops_mu;
  std::atomic<int64_t> done[3] = {};
  std::atomic<int64_t> failed[3] = {};
  std::atomic<int64_t> pending[3] = {};
  std::atomic<int64_t> bytes_pending{0};
  std::atomic<int64_t> clock_skew_ns{-1};  // -1: not measured (yet)
};

}  // namespace ha_sync
