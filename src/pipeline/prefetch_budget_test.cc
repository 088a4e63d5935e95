#include "pipeline/prefetch_budget.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

namespace ha_sync::pipeline {

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
