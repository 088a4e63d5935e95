// The per-pair lock that keeps two runs of one pair from writing at once.
// Implementations: FileLock (flock on a file in --log-dir, src/io) and the
// Kubernetes Lease (src/k8s).
//
// Contract:
//  - Acquire() is called once. kAcquired means the caller may write until
//    MayStillWrite() turns false; kHeldByOther means someone else holds it
//    (holder() says who) and the caller must touch nothing and exit 0;
//    kError means the lock state is unknown: touch nothing, exit 1.
//  - MayStillWrite() is cheap and thread-safe; the engine polls it between
//    operations (fencing). A lock that cannot be lost returns true.
//  - Release() is idempotent and safe to call from the main thread after
//    the work has stopped.
#pragma once

#include <string>

#include "ha_sync/status.h"

namespace ha_sync {

class RunLock {
 public:
  enum class Outcome { kAcquired, kHeldByOther, kError };
  struct AcquireResult {
    Outcome outcome = Outcome::kError;
    std::string holder;  // who holds it, for kHeldByOther
    Status status;       // why, for kError
  };

  virtual ~RunLock() = default;
  virtual AcquireResult Acquire() = 0;
  virtual bool MayStillWrite() const = 0;
  // Why MayStillWrite() turned false (empty while it is true).
  virtual std::string LostReason() const { return {}; }
  virtual Status Release() = 0;
};

}  // namespace ha_sync
