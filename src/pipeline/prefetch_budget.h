// How many directory listings may be made ahead of a depth-first walk, and
// not yet visited, at once. A depth-first walk knows only the directories on
// its stack; a listing task that also lists its subdirectories overlaps
// listings across a breadth the stack does not know yet (on NFS each listing
// is round trips). The budget bounds the memory and fds those hold: a token
// per listing, given back when the listing is visited or dropped.
//
// Used by the sync's walk (walker.h) and by `--bench`'s scan, so that the
// scan rate `--bench` reports is the walk's.
//
// Thread-safety: TryTake() from any thread; the budget must outlive every
// token it gave.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace ha_sync::pipeline {

class PrefetchBudget {
 public:
  explicit PrefetchBudget(size_t limit) : limit_(limit) {}
  PrefetchBudget(const PrefetchBudget&) = delete;
  PrefetchBudget& operator=(const PrefetchBudget&) = delete;

  // A token while fewer than `limit` are out, else null. The budget gets it
  // back when the token's last copy goes.
  std::shared_ptr<void> TryTake();
  size_t taken() const { return taken_.load(); }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  std::atomic<size_t> taken_{0};
};

}  // namespace ha_sync::pipeline
