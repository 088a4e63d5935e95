// How far the walk lists ahead: the listing pool's shape (ListingShapeFor)
// and the budget of listings made ahead of a depth-first walk, and not yet
// visited, at once (PrefetchBudget). A depth-first walk knows only the
// directories on its stack; a listing task that also lists its subdirectories overlaps
// listings across a breadth the stack does not know yet (on NFS each listing
// is round trips). The budget bounds the memory and fds those hold: a token
// per listing, given back when the listing is visited or dropped.
//
// Used by the sync's walk (walker.h) and by `--bench`'s scan, so that the
// scan rate `--bench` reports is the walk's.
//
// Thread-safety: ListingShapeFor() is pure; TryTake() from any thread; the
// budget must outlive every token it gave.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace ha_sync::pipeline {

// The walk's listing pool for --workers `workers`: its threads, how many
// pending directories (from the top of the stack) are listed ahead of the
// walk, and how many subdirectory listings the listing tasks may make
// ahead of that (PrefetchBudget below). Two shapes, because a listing costs
// different things:
// - network roots (`network_roots`: src or dest on NFS, SMB, FUSE, Ceph):
//   round trips, so many at once: threads twice the workers (4 to 32),
//   lookahead twice the threads, prefetch the threads;
// - local roots: CPU (getdents and lstat from the cache) or the disk's
//   queue, so threads = workers (2 to 32) and a deep lookahead (8 per
//   thread, at most 64, prefetch half of it): more threads than cores only
//   add switches. 20k photos warm, 2 cores, 4 workers: 80 -> 65 ms.
// `--bench` scans with the same shape, so its scan rate is the walk's.
struct ListingShape {
  size_t threads = 0;
  size_t lookahead = 0;
  size_t prefetch = 0;
};
ListingShape ListingShapeFor(size_t workers, bool network_roots);


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
