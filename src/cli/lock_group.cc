#include "cli/lock_group.h"

namespace ha_sync::cli {

RunLock::AcquireResult LockGroup::Acquire() {
  for (const auto& member : members_) {
    AcquireResult r = member->Acquire();
    if (r.outcome != Outcome::kAcquired) {
      (void)Release();
      return r;
    }
    ++held_;
  }
  AcquireResult ok;
  ok.outcome = Outcome::kAcquired;
  return ok;
}

bool LockGroup::MayStillWrite() const {
  for (size_t i = 0; i < held_; ++i) {
    if (!members_[i]->MayStillWrite()) return false;
  }
  return held_ == members_.size();
}

std::string LockGroup::LostReason() const {
  for (size_t i = 0; i < held_; ++i) {
    if (std::string why = members_[i]->LostReason(); !why.empty()) return why;
  }
  return {};
}

Status LockGroup::Release() {
  Status first;
  for (size_t i = 0; i < held_; ++i) {
    Status s = members_[i]->Release();
    if (first.ok() && !s.ok()) first = s;
  }
  held_ = 0;
  return first;
}

}  // namespace ha_sync::cli
