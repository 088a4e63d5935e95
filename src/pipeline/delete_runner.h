// The deletes of one run. The walker (walker.h) spools them as it plans
// each directory (delete_spool.h: a directory's children before it, and the
// directory's times to put back after deletes in it); after the walk and
// the copies, Run() checks the guards against the full count and only then
// deletes: files go to the trash when the run keeps one, directories (empty
// by then) are removed.
//
// Guards, each refusing every delete of the run with an error naming the
// flag: --max-delete as a count, --max-delete as a percent of the dest
// files the walk saw, and --max-delete-percent against the files the sync
// state knows (root_guard.h tells the checks made before the run). A scan
// error disables the deletes instead (a warning, not a failure).
//
// Thread-safety: one thread (the walk thread) at a time; Run() deletes
// files and puts directory times back on threads of its own, through
// RunContext's thread-safe calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ha_sync/status.h"
#include "io/dir_entry.h"
#include "io/unique_fd.h"
#include "pipeline/delete_spool.h"
#include "pipeline/dir_node.h"
#include "pipeline/run_context.h"

namespace ha_sync::pipeline {

class DeleteRunner {
 public:
  // `ctx` must outlive the runner; one runner serves every pass of a run.
  explicit DeleteRunner(RunContext& ctx) : ctx_(ctx) {}

  // A new, empty spool for a pass.
  Status BeginPass();
  // Counts the non-directories of a dest listing: the base of the percent
  // guard (every dest file the walk saw, over all passes).
  void CountDestFiles(const std::vector<io::Entry>& dest_entries);
  // Spools the deletes for a dest-only entry (a directory: its subtree,
  // children first). With state, only entries synced before and unchanged
  // since are deleted; *all_deleted says whether nothing was kept.
  // ELOOP: the subtree is --src itself (a bind mount): the walk must end.
  Status SpoolSubtree(int parent_fd, const std::string& rel, const io::Entry& entry,
                      bool* all_deleted);
  // Spools putting the directory's source times back after its deletes
  // (deleting changes a directory's mtime); a failure is a warning.
  void SpoolRestoreTimes(const DirNode& node);
  // Checks the guards, then runs the spooled deletes: files on --workers
  // threads, then directories (children first), then directory times (on
  // --workers threads again).
  // Returns early (ok) when the run is stopping.
  Status Run();
  // Spooled deletes not done (refused, disabled, stopped) are no longer
  // pending; drops the spool.
  void EndPass();

  bool disabled() const { return disabled_; }  // scan errors turned the deletes off

 private:
  Status CheckGuards(int64_t files, int64_t deletes) const;
  // --max-delete-percent (root_guard.h tells the checks made before the run).
  Status CheckVanishedShare(int64_t files) const;
  void RestoreTimes(const SpoolRecord& r);
  // Reads the whole spool, in order, stopping early when the run stops.
  Status ForEachRecord(const std::function<void(const SpoolRecord&)>& handle);
  Status DeleteFilesInParallel();
  Status RestoreTimesInParallel();
  // The parent directory of the last delete, kept open for its siblings.
  struct OpenParent {
    io::UniqueFd fd;
    std::string rel = "\x01";  // no path equals this: forces the first open
  };
  void DeleteOne(const SpoolRecord& r, OpenParent* parent);
  // Dry-run: the delete and both sides it rests on go to the plan file.
  void NotePlannedDelete(const SpoolRecord& r);

  RunContext& ctx_;
  std::unique_ptr<DeleteSpool> spool_;
  int64_t dest_files_seen_ = 0;
  bool disabled_ = false;
};

}  // namespace ha_sync::pipeline
