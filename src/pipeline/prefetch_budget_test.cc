#include "pipeline/prefetch_budget.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

namespace ha_sync::pipeline {

TEST_CASE("the listing pool: many threads for network roots, threads = workers and a deep lookahead for local ones") {
  // Network roots: unchanged by the root kind's rule for local ones.
  CHECK(ListingShapeFor(32, true).threads == 32);
  CHECK(ListingShapeFor(32, true).lookahead == 64);
  CHECK(ListingShapeFor(32, true).prefetch == 32);
  CHECK(ListingShapeFor(1, true).threads == 4);
  // Local roots: no more threads than files in flight, lookahead bounded.
  const ListingShape local = ListingShapeFor(4, false);
  CHECK(local.threads == 4);
  CHECK(local.lookahead == 32);
  CHECK(local.prefetch == 16);
  CHECK(ListingShapeFor(1, false).threads == 2);
  CHECK(ListingShapeFor(64, false).threads == 32);
  CHECK(ListingShapeFor(64, false).lookahead == 64);
  CHECK(ListingShapeFor(64, false).prefetch == 32);
}

TEST_CASE("a prefetch budget gives at most its limit of tokens; each comes back when its last copy goes") {
  PrefetchBudget budget(2);
  std::shared_ptr<void> a = budget.TryTake();
  std::shared_ptr<void> b = budget.TryTake();
  CHECK(a);
  CHECK(b);
  CHECK_FALSE(budget.TryTake());
  std::shared_ptr<void> copy = a;
  a.reset();
  CHECK(budget.taken() == 2);  // a copy still holds it
  copy.reset();
  CHECK(budget.taken() == 1);
  CHECK(budget.TryTake());     // taken and dropped at once
  CHECK(budget.taken() == 1);
}

TEST_CASE("a prefetch budget taken from many threads never goes over its limit") {
  PrefetchBudget budget(5);
  std::atomic<size_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        std::shared_ptr<void> token = budget.TryTake();
        if (!token) continue;
        const size_t now = budget.taken();
        size_t seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(peak.load() <= 5);
  CHECK(budget.taken() == 0);
}

}  // namespace ha_sync::pipeline
