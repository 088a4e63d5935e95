// A fixed pool of worker threads fed by a bounded queue. Submit() blocks
// while the queue is full, which is the back-pressure that keeps the walk
// from running ahead of the copies (memory stays bounded).
//
// Fairness: tasks carry a key (the engine uses the directory a file is in),
// and workers take tasks round-robin across keys, oldest first within a key.
// Why: the kernel serialises creates and renames within one directory (the
// parent's inode lock, held across the NFS round trip), so files in flight
// must be spread over directories to overlap; one key behaves as a FIFO.
//
// Thread-safety: Submit() and Wait() from the producer thread, TrySubmit()
// from any thread (tasks too); tasks run on the workers. The destructor waits for queued tasks.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ha_sync::pipeline {

class ThreadPool {
 public:
  ThreadPool(size_t workers, size_t queue_capacity);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task, uint64_t key = 0);
  // Submit that never blocks: false (and `task` left as it was) when the
  // queue is full. For tasks that submit more work from a worker.
  bool TrySubmit(std::function<void()>&& task, uint64_t key = 0);
  // Returns when every submitted task has finished.
  void Wait();
  // Tasks queued or running right now.
  size_t InFlight();

 private:
  void WorkerLoop();
  void EnqueueLocked(std::function<void()>&& task, uint64_t key);  // mu_ held

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  // Queued tasks per key, and the keys with tasks in round-robin order.
  std::unordered_map<uint64_t, std::deque<std::function<void()>>> queues_;
  std::deque<uint64_t> turns_;
  size_t queued_ = 0;
  size_t running_ = 0;
  bool shutting_down_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ha_sync::pipeline
