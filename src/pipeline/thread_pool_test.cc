#include "pipeline/thread_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <mutex>
#include <string>
#include <vector>

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

TEST_CASE("keys take turns: tasks of different keys interleave, one key stays in order") {
  std::mutex mu;
  std::vector<std::string> order;
  std::atomic<bool> release{false};
  ThreadPool pool(1, 100);
  // Holds the only worker until everything below is queued.
  pool.Submit([&] {
    while (!release.load()) std::this_thread::yield();
  });
  for (int dir = 0; dir < 3; ++dir) {
    for (int file = 0; file < 3; ++file) {
      pool.Submit(
          [&, dir, file] {
            std::lock_guard<std::mutex> lock(mu);
            order.push_back(std::to_string(dir) + "/" + std::to_string(file));
          },
          static_cast<uint64_t>(100 + dir));
    }
  }
  release = true;
  pool.Wait();
  const std::vector<std::string> expected = {"0/0", "1/0", "2/0", "0/1", "1/1", "2/1", "0/2", "1/2", "2/2"};
  CHECK(order == expected);
}

TEST_CASE("TrySubmit never blocks: refused when the queue is full, the task kept; tasks may submit more") {
  std::atomic<bool> started{false}, release{false};
  std::atomic<int> ran{0};
  ThreadPool pool(1, 2);
  pool.Submit([&] {
    started = true;
    while (!release.load()) std::this_thread::yield();
  });
  while (!started.load()) std::this_thread::yield();
  // The worker is held: two fit in the queue, the third is refused.
  const bool first = pool.TrySubmit([&] { ++ran; });
  const bool second = pool.TrySubmit([&] { ++ran; });
  std::function<void()> third = [&] { ran += 100; };
  const bool third_taken = pool.TrySubmit(std::move(third));
  const bool third_kept = static_cast<bool>(third);  // still callable: left as it was
  release = true;
  CHECK(first);
  CHECK(second);
  CHECK_FALSE(third_taken);
  CHECK(third_kept);
  pool.Wait();
  CHECK(ran == 2);
  // A task that submits from the worker (as prefetching listings do) never
  // deadlocks, also with a full queue: Wait sees the chain end.
  std::function<void(int)> chain = [&](int left) {
    ++ran;
    if (left > 0) (void)pool.TrySubmit([&chain, left] { chain(left - 1); });
  };
  pool.Submit([&] { chain(50); });
  pool.Wait();
  CHECK(ran == 2 + 51);
}

}  // namespace ha_sync::pipeline
