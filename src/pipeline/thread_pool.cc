#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

ThreadPool::ThreadPool(size_t workers, size_t queue_capacity)
    : capacity_(queue_capacity == 0 ? 1 : queue_capacity) {
  if (workers == 0) workers = 1;
  threads_.reserve(workers);
  for (size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  Wait();
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutting_down_ = true;
  }
  not_empty_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::Submit(std::function<void()> task, uint64_t key) {
  std::unique_lock<std::mutex> lock(mu_);
  not_full_.wait(lock, [this] { return queued_ < capacity_; });
  EnqueueLocked(std::move(task), key);
  lock.unlock();
  not_empty_.notify_one();
}

void ThreadPool::EnqueueLocked(std::function<void()>&& task, uint64_t key) {
  auto& q = queues_[key];
  if (q.empty()) turns_.push_back(key);
  q.push_back(std::move(task));
  ++queued_;
}

bool ThreadPool::TrySubmit(std::function<void()>&& task, uint64_t key) {
  std::unique_lock<std::mutex> lock(mu_);
  if (shutting_down_ || queued_ >= capacity_) return false;
  EnqueueLocked(std::move(task), key);
  lock.unlock();
  not_empty_.notify_one();
  return true;
}

void ThreadPool::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return queued_ == 0 && running_ == 0; });
}

size_t ThreadPool::InFlight() {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_ + running_;
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      not_empty_.wait(lock, [this] { return shutting_down_ || queued_ > 0; });
      if (queued_ == 0) return;  // shutting down
      const uint64_t key = turns_.front();
      turns_.pop_front();
      auto it = queues_.find(key);
      task = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) {
        queues_.erase(it);
      } else {
        turns_.push_back(key);  // its next task waits for the other keys' turns
      }
      --queued_;
      ++running_;
    }
    not_full_.notify_one();
    task();
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      if (queued_ == 0 && running_ == 0) idle_.notify_all();
    }
  }
}

}  // namespace ha_sync::pipeline
