// Several RunLocks held as one (a shard's run: the shard's own Lease, then
// the pair's shared with the other shards; lock_select.h). Acquire takes
// them in order and stops at the first one not acquired, releasing those
// already taken; Release lets them go in the same order (the shared one
// last, so its release sees this shard's own gone). The group may write
// while every member may.
//
// Thread-safety: as RunLock: MayStillWrite/LostReason from any thread, the
// rest from one thread.
#pragma once

#include <memory>
#include <vector>

#include "ha_sync/run_lock.h"

namespace ha_sync::cli {

class LockGroup : public RunLock {
 public:
  explicit LockGroup(std::vector<std::unique_ptr<RunLock>> members) : members_(std::move(members)) {}
  ~LockGroup() override { (void)Release(); }

  AcquireResult Acquire() override;
  bool MayStillWrite() const override;
  std::string LostReason() const override;
  Status Release() override;

 private:
  std::vector<std::unique_ptr<RunLock>> members_;
  size_t held_ = 0;  // members_[0, held_) are acquired
};

}  // namespace ha_sync::cli
