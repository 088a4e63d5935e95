#include "pipeline/thread_pool.h"

#include <doctest/doctest.h>

#include <atomic>

namespace ha_sync::pipeline {

TEST_CASE("every submitted task runs once; Wait returns when all are done") {
  std::atomic<int> ran{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<int> in_flight{0};
  ThreadPool pool(3, 2);
  for (int i = 0; i < 200; ++i) {
    pool.Submit([&] {
      const int now = ++in_flight;
      int seen = max_in_flight.load();
      while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
      }
      ++ran;
      --in_flight;
    });
    // Back-pressure: queued + running never exceeds capacity + workers.
    CHECK(pool.InFlight() <= 5);
  }
  pool.Wait();
  CHECK(ran == 200);
  CHECK(max_in_flight <= 3);
  CHECK(pool.InFlight() == 0);
}

}  // namespace ha_sync::pipeline
