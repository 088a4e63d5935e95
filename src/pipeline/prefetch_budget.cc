#include "pipeline/prefetch_budget.h"

namespace ha_sync::pipeline {

std::shared_ptr<void> PrefetchBudget::TryTake() {
  size_t taken = taken_.load();
  do {
    if (taken >= limit_) return nullptr;
  } while (!taken_.compare_exchange_weak(taken, taken + 1));
  // A non-null pointer, so that the token tests true; the deleter only
  // gives the place back.
  return std::shared_ptr<void>(this, [](void* self) {
    static_cast<PrefetchBudget*>(self)->taken_.fetch_sub(1);
  });
}

}  // namespace ha_sync::pipeline
