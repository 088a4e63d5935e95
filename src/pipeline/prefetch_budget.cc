#include "pipeline/prefetch_budget.h"

#include <algorithm>

namespace ha_sync::pipeline {

ListingShape ListingShapeFor(size_t workers, bool network_roots) {
  if (network_roots) {
    const size_t threads = std::clamp<size_t>(workers * 2, 4, 32);
    return {threads, threads * 2, threads};
  }
  const size_t threads = std::clamp<size_t>(workers, 2, 32);
  const size_t lookahead = std::min<size_t>(threads * 8, 64);
  return {threads, lookahead, lookahead / 2};
}


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
