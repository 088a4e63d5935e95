// A fixed pool of worker threads fed by a bounded queue. Submit() blocks
// while the queue is full, which is the back-pressure that keeps the walk
// from running ahead of the copies (memory stays bounded).
//
// Thread-safety: Submit() and Wait() from the producer thread; tasks run on
// the workers. The destructor waits for queued tasks.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ha_sync::pipeline {

class ThreadPool {
 public:
  ThreadPool(size_t workers, size_t queue_capacity);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  // Returns when every submitted task has finished.
  void Wait();
  // Tasks queued or running right now.
  size_t InFlight();

 private:
  void WorkerLoop();

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool shutting_down_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ha_sync::pipeline
