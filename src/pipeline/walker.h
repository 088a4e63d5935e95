// One walk pass over both trees, directory by directory, depth first (so
// memory grows with depth, not with the tree): each directory's two
// listings are made ahead of the walk on a listing pool (on NFS each
// listing costs round trips; several run at once), then the directory is
// planned with PlanDirectory() and each action dispatched: skips and
// warnings here, file work to the file executor (file_executor.h), new
// directories made here, deletes spooled with the delete runner
// (delete_runner.h). The new sync state of each directory is written as it
// is planned. A listing task also starts the listings of the directory's
// subdirectories present on both sides, up to a budget of listings not yet
// visited (memory stays bounded), so that listings overlap across a breadth
// the depth-first stack does not know yet.
//
// A directory that cannot be listed is recorded as a failed operation and
// counts as a scan error (no delete is done, the state is not committed);
// for a root it is the pass's fatal error: an unreadable root must never
// look empty.
//
// Thread-safety: one thread runs Walk(); the listing pool's threads only
// open and list directories, and start prefetches (the budget is atomic).
#pragma once

#include <cstddef>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "io/unique_fd.h"
#include "pipeline/delete_runner.h"
#include "pipeline/dir_node.h"
#include "pipeline/file_executor.h"
#include "pipeline/planner.h"
#include "pipeline/prefetch_budget.h"
#include "pipeline/run_context.h"
#include "pipeline/sync_state.h"
#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

class Walker {
 public:
  // All three must outlive the walker; one walker per pass.
  Walker(RunContext& ctx, FileExecutor& files, DeleteRunner& deletes)
      : ctx_(ctx), files_(files), deletes_(deletes) {}
  Walker(const Walker&) = delete;
  Walker& operator=(const Walker&) = delete;

  // Returns early (ok) when the run is stopping; directories created (or
  // planned) but not visited still get their record.
  Status Walk();
  // A type replacement deleted dest entries: a second pass creates them
  // from src once the deletes ran.
  bool needs_second_pass() const { return needs_second_pass_; }

 private:
  struct Listing;
  using ListingFuture = std::shared_ptr<std::future<std::unique_ptr<Listing>>>;
  // A directory's two listings, made by the listing pool.
  struct Listing {
    io::UniqueFd src_fd, dest_fd;
    Status src_status, dest_status;  // opening and listing each side
    std::vector<io::Entry> src, dest;
    // Listings of subdirectories on both sides that this listing's task
    // started (breadth ahead of the walk, within the prefetch budget).
    std::unordered_map<std::string, ListingFuture> children;
    std::shared_ptr<void> budget_token;  // a prefetched listing's (prefetch_budget.h)
  };
  // Dups of a listed directory's fds, through which its subdirectories'
  // prefetched listings open them: open whatever the walk closes meanwhile.
  struct ParentFds {
    io::UniqueFd src, dest;
  };
  struct PendingDir {
    NodePtr parent;
    io::Entry src;
    bool dest_exists = false;
    bool created = false;
    std::optional<StateEntry> old;  // the name's record in the parent's state
    ListingFuture listing;  // once its listing started
    // A directory this run creates (or, in dry-run, plans): its one record,
    // made when the directory is visited and its listing tells how it went.
    std::optional<OpRecord> create_op;
    int64_t dest_mtime_ns = -1;  // when dest_exists
  };

  // Stats, lists and plans the roots; an error is the pass's fatal error
  // (a listing or planning error also counts as a scan error).
  Status VisitRoot();
  // Visits the pending directory on top of the stack.
  void VisitNext();
  void RecordUnreadable(PendingDir* p, const std::string& rel, const Status& failed);
  // Plans one listed directory. A state error is returned for the root
  // (fatal) and recorded as a failed operation for any other directory.
  Status ProcessDir(const NodePtr& node, std::vector<io::Entry> src_entries,
                    std::vector<io::Entry> dest_entries);
  // The trash, clock probes and excluded paths are never synced (temp files
  // are planned: leftovers in dest get removed).
  void DropReserved(const DirNode& node, std::vector<io::Entry>* entries) const;
  // Starts listing a pending directory on the listing pool.
  void StartListing(PendingDir* p);
  // Kinds the walk only reports (counts, warnings, conflict rows): a second
  // pass leaves them to the first, but for the paths it replaced.
  static bool ReportedInFirstPass(ActionKind kind);
  // Waits for the listing tasks still running, then ends the pool.
  void EndListing();
  static std::unique_ptr<Listing> ListPending(const PendingDir& p, const std::string& rel);
  static std::unique_ptr<Listing> ListBothSides(int src_parent_fd, int dest_parent_fd,
                                                const std::string& name, const std::string& rel);
  // On a listing task, after listing `rel`: starts listing its
  // subdirectories that exist on both sides while the budget lasts. Why: the
  // walk is depth-first, so it knows only a few directories ahead, and on
  // NFS each listing is round trips that only breadth overlaps.
  void PrefetchChildren(Listing* l, const std::string& rel);
  ListingFuture SubmitPrefetch(std::shared_ptr<const ParentFds> parents, const std::string& name,
                               const std::string& rel);
  // `ha-sync apply` (plan_apply.h): whether the plan lets `a` run; when not,
  // its next state becomes the old one (and a changed precondition is
  // recorded as stale).
  bool AllowedByPlan(const DirNode& node, Action* a);
  // For an action that changes nothing: true (and recorded as stale) when
  // the plan changes `rel` and a precondition of that has changed.
  bool StaleWithoutChange(const std::string& rel, const Action& a);
  void HandleAction(const NodePtr& node, const Action& a, bool* spooled_here);
  void RemoveStaleTemp(const DirNode& node, const Action& a, const std::string& rel);
  void CreateDir(const NodePtr& node, const Action& a, const std::string& rel);
  void SpoolDelete(const NodePtr& node, const Action& a, const std::string& rel,
                   bool* spooled_here);
  // Copies the old state of the directory `rel` and everything below it into
  // the new state (for a directory kept as it was recorded without being
  // walked, e.g. deleted on dest and waiting for the reverse run).
  void CarryStateSubtree(const std::string& rel);

  RunContext& ctx_;
  FileExecutor& files_;
  DeleteRunner& deletes_;
  // Declared before what holds listings, so it is destroyed after them.
  std::unique_ptr<PrefetchBudget> prefetch_;
  std::unique_ptr<ThreadPool> listing_pool_;
  size_t lookahead_ = 0;  // pending directories listed ahead of the walk
  // The prefetched subdirectory listings of the directory being planned.
  std::unordered_map<std::string, ListingFuture> prefetched_here_;
  std::vector<PendingDir> stack_;  // directories still to visit, next on top
  bool needs_second_pass_ = false;
  // Ends the walk: a directory that is the other side's root
  // (RunContext::NotTheOtherRoot).
  Status fatal_;
};

}  // namespace ha_sync::pipeline
