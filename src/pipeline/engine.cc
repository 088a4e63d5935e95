#include "pipeline/engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_copy.h"
#include "io/file_copier.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/clock_probe.h"
#include "pipeline/copier_factory.h"
#include "pipeline/delete_spool.h"
#include "pipeline/sync_state.h"
#include "pipeline/trash.h"
#include "pipeline/undo_manifest.h"
#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {

constexpr char kCancelledCopy[] =
    "cancelled: the run was stopped before this copy finished; nothing was changed";

// File operations queued ahead of the workers: enough for several
// directories of a photo tree (~100 files each) to be in flight at once.
constexpr size_t kQueuedFiles = 512;

// --max-delete-percent applies only when more files than this would go.
constexpr int64_t kVanishedFloor = 10;

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

void SplitParent(const std::string& rel, std::string* parent, std::string* name) {
  const size_t slash = rel.rfind('/');
  if (slash == std::string::npos) {
    parent->clear();
    *name = rel;
  } else {
    *parent = rel.substr(0, slash);
    *name = rel.substr(slash + 1);
  }
}

StateEntry ToState(const Entry& e) {
  StateEntry s;
  s.name = e.name;
  s.type = e.type;
  s.size = e.type == FileType::kFile ? e.size : 0;
  s.mtime_ns = e.mtime_ns;
  return s;
}

// "<stem>.ha-sync-conflict-<stamp>-<direction><ext>", within 255 bytes.
std::string ConflictCopyName(const std::string& name, const std::string& stamp,
                             const std::string& direction) {
  size_t dot = name.rfind('.');
  if (dot == 0 || dot == std::string::npos || name.size() - dot > 16) dot = name.size();
  std::string stem = name.substr(0, dot);
  const std::string ext = name.substr(dot);
  const std::string mark = ".ha-sync-conflict-" + stamp + "-" + direction;
  const size_t room = 255 - mark.size() - ext.size();
  if (stem.size() > room) stem.resize(room);
  return stem + mark + ext;
}

// The operation a thread is doing that the live counters show as pending
// (Engine::Impl::WorkScope): its record takes it off pending.
struct PendingWork {
  OpKind kind;
  int64_t bytes;
  bool settled = false;
};
thread_local PendingWork* t_pending_work = nullptr;

}  // namespace

const char* ToString(Stage stage) {
  switch (stage) {
    case Stage::kStarting: return "starting";
    case Stage::kProbing: return "probing";
    case Stage::kScanning: return "scanning";
    case Stage::kCopying: return "copying";
    case Stage::kDeleting: return "deleting";
    case Stage::kFinishing: return "finishing";
    case Stage::kDone: return "done";
  }
  return "unknown";
}

class Engine::Impl {
 public:
  Impl(EngineOptions options, OpSink* sink, const RunLock* lock, const std::atomic<bool>* stop)
      : opt_(std::move(options)), sink_(sink), lock_(lock), stop_(stop) {}

  EngineResult Run();
  Progress progress_;

 private:
  // One directory being synced. It stays alive while its subdirectories
  // and file operations are pending; the last one out applies the source
  // directory's mode and times to dest (after the contents, as required).
  struct DirNode {
    Impl* eng = nullptr;
    std::shared_ptr<DirNode> parent;
    std::string rel;
    int src_fd = -1;
    int dest_fd = -1;
    Entry src_attrs;
    bool is_root = false;
    bool created = false;
    std::atomic<bool> changed{false};
    bool deletes_here = false;        // deletes were spooled for entries in it
    int64_t dest_mtime_before_ns = -1;  // dest's mtime when listed (-1: unknown)
    ~DirNode();
  };
  using NodePtr = std::shared_ptr<DirNode>;

  // A directory's two listings, made ahead of the walk by the listing pool
  // (on NFS each listing costs round trips; several run at once).
  struct Listing {
    io::UniqueFd src_fd, dest_fd;
    Status src_status, dest_status;  // opening and listing each side
    std::vector<Entry> src, dest;
  };
  struct PendingDir {
    NodePtr parent;
    Entry src;
    bool dest_exists = false;
    bool created = false;
    std::optional<StateEntry> old;  // the name's record in the parent's state
    std::shared_ptr<std::future<std::unique_ptr<Listing>>> listing;  // once prefetch started
    // A directory this run creates (or, in dry-run, plans): its one record,
    // made when the directory is visited and its listing tells how it went.
    std::optional<OpRecord> create_op;
    int64_t dest_mtime_ns = -1;     // when dest_exists
  };

  bool Stopping() const { return aborted_.load(std::memory_order_acquire); }
  void SetStage(Stage stage) {
    progress_.stage_started_ms.store(NowMs());
    progress_.stage.store(static_cast<int>(stage));
  }
  void AddPending(OpKind kind, int64_t n, int64_t bytes) {
    std::lock_guard<std::mutex> lock(progress_.ops_mu);
    progress_.pending[static_cast<int>(kind)].fetch_add(n, std::memory_order_relaxed);
    progress_.bytes_pending.fetch_add(bytes, std::memory_order_relaxed);
  }
  // Pending work on this thread (a file task, a spooled delete): the first
  // Record() of its kind settles it in the same step as counting it done or
  // failed, so the live status never counts it twice; work that ends with
  // no record of its kind (dropped, or a conflict copy that failed early)
  // is settled when the scope ends.
  class WorkScope {
   public:
    WorkScope(Impl* impl, OpKind kind, int64_t bytes)
        : impl_(impl), work_{kind, bytes}, outer_(t_pending_work) {
      t_pending_work = &work_;
    }
    ~WorkScope() {
      t_pending_work = outer_;
      if (!work_.settled) impl_->AddPending(work_.kind, -1, -work_.bytes);
    }
    WorkScope(const WorkScope&) = delete;
    WorkScope& operator=(const WorkScope&) = delete;

   private:
    Impl* impl_;
    PendingWork work_;
    PendingWork* outer_;
  };
  void Record(OpRecord op);
  void Warn(const std::string& message) { sink_->OnWarning(message); }
  void CountSkipped() {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.skipped;
  }
  OpRecord NewOp(OpKind kind, std::string path) const {
    OpRecord op;
    op.operation = kind;
    op.filepath = std::move(path);
    op.started_at_ms = NowMs();
    op.dry_run = opt_.dry_run;
    return op;
  }
  void Fail(OpRecord op, const Status& status) {
    op.status = OpStatus::kFail;
    op.error_message = status.message();
    Record(std::move(op));
  }

  Status WalkPass(bool* needs_second_pass);
  // Lists and plans one directory. A listing error is returned for the root
  // (fatal) and recorded as a failed operation for any other directory.
  Status ProcessDir(const NodePtr& node, std::vector<Entry> src_entries,
                    std::vector<Entry> dest_entries, std::vector<PendingDir>* stack,
                    bool* needs_second_pass);
  // Starts listing a pending directory on the listing pool.
  void StartListing(PendingDir* p);
  static std::unique_ptr<Listing> ListPending(const PendingDir& p, const std::string& rel);
  void HandleAction(const NodePtr& node, const Action& a, std::vector<PendingDir>* stack,
                    bool* needs_second_pass, bool* spooled_here);
  void SubmitFileWork(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest,
                      const StateEntry* old);
  // Each returns false when the operation failed (and was recorded so).
  // Without trash_previous the replaced version is kept as `conflict_copy`.
  bool DoCopy(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest,
              bool trash_previous = true, const std::string& conflict_copy = {});
  bool DoConflictCopy(const NodePtr& node, const Entry& src, const Entry& dest);
  bool DoSymlink(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest);
  // Keeps the name's old state record when its operation failed.
  void KeepOldState(const std::string& dir, const std::string& name, const StateEntry* old) {
    if (state_writer_) state_writer_->Override(dir, name, old);
  }
  // Spools the deletes for a dest-only entry (a directory: its subtree,
  // children first). With state, only entries synced before and unchanged
  // since are deleted; *all_deleted says whether nothing was kept.
  Status SpoolSubtree(int parent_fd, const std::string& rel, const Entry& entry, bool* all_deleted);
  void ProbeClocks(EngineResult* result);
  void Remember(OpKind op, const std::string& path, FileType type, int64_t size, int64_t mtime_ns,
                std::optional<std::string> previous = std::nullopt) {
    if (!manifest_) return;
    Status s = manifest_->Append({op, path, type, size, mtime_ns, std::move(previous)});
    if (!s.ok()) Warn("undo manifest: " + s.message());
  }
  // Copies the old state of the directory `rel` and everything below it into
  // the new state (for a directory kept as it was recorded without being
  // walked, e.g. deleted on dest and waiting for the reverse run).
  void CarryStateSubtree(const std::string& rel);
  Status RunDeletes();
  void RemoveExpiredManifests();
  // A temp-named dest entry that a run of this pair made (temp_tags.h).
  bool IsOwnTemp(const Entry& e) const {
    const uint32_t tag = io::SyncTempTag(e.name);
    return e.type != FileType::kDir && tag != 0 &&
           std::binary_search(opt_.own_temp_tags.begin(), opt_.own_temp_tags.end(), tag);
  }
  // --max-delete-percent (root_guard.h tells the checks made before the run).
  Status CheckVanishedShare(int64_t files) const;
  void Monitor();

  const EngineOptions opt_;
  OpSink* const sink_;
  const RunLock* const lock_;
  const std::atomic<bool>* const stop_;

  std::atomic<bool> aborted_{false};
  std::string abort_reason_;  // written by the monitor before aborted_
  std::atomic<bool> done_{false};

  std::mutex mu_;
  RunCounts counts_;  // guarded by mu_

  int src_root_fd_ = -1;
  int dest_root_fd_ = -1;
  int64_t dest_files_seen_ = 0;
  PlanOptions plan_;  // opt_.plan with now and the widened window
  std::string stamp_;  // UTC start time for conflict copies and the trash
  std::unique_ptr<DeleteSpool> spool_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<io::FileCopier> copier_;  // how DoCopy copies data (--io-engine)
  std::unique_ptr<ThreadPool> listing_pool_;
  size_t lookahead_ = 0;  // pending directories listed ahead of the walk
  std::unique_ptr<StateReader> state_reader_;
  std::unique_ptr<StateWriter> state_writer_;
  std::unique_ptr<Trash> trash_;
  std::unique_ptr<UndoManifest> manifest_;  // with the trash: what `ha-sync undo` reverts
  std::atomic<int64_t> settling_{0};
  std::atomic<int64_t> scan_errors_{0};
  std::atomic<int64_t> planned_conflicts_{0};
  bool deletes_disabled_ = false;
};

Engine::Impl::DirNode::~DirNode() {
  if (!eng->opt_.dry_run && dest_fd >= 0 && (created || changed.load())) {
    const std::string display = rel.empty() ? "." : rel + "/";
    Status s;
    if (is_root) {
      const struct timespec times[2] = {
          {static_cast<time_t>(src_attrs.atime_ns / 1000000000), src_attrs.atime_ns % 1000000000},
          {static_cast<time_t>(src_attrs.mtime_ns / 1000000000), src_attrs.mtime_ns % 1000000000}};
      if (::futimens(dest_fd, times) != 0) s = Status::FromErrno(errno, "set times", display);
    } else {
      s = io::ApplyAttributes(dest_fd, src_attrs, display);
    }
    if (!s.ok()) eng->Warn("directory attributes not applied: " + s.message());
  }
  if (!eng->opt_.dry_run && !created && dest_mtime_before_ns >= 0 && (changed.load() || deletes_here)) {
    // So that `ha-sync undo` can put the directory's time back too.
    eng->Remember(OpKind::kUpdate, rel.empty() ? "." : rel, FileType::kDir, 0, src_attrs.mtime_ns,
                  "mtime:" + std::to_string(dest_mtime_before_ns));
  }
  if (src_fd >= 0 && !is_root) ::close(src_fd);
  if (dest_fd >= 0 && !is_root) ::close(dest_fd);
}

void Engine::Impl::Record(OpRecord op) {
  if (!op.ended_at_ms) op.ended_at_ms = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.Add(op);
  }
  {
    std::lock_guard<std::mutex> lock(progress_.ops_mu);
    PendingWork* work = t_pending_work;
    if (work != nullptr && !work->settled && work->kind == op.operation) {
      progress_.pending[static_cast<int>(work->kind)].fetch_sub(1, std::memory_order_relaxed);
      progress_.bytes_pending.fetch_sub(work->bytes, std::memory_order_relaxed);
      work->settled = true;
    }
    progress_.ops_done.fetch_add(1, std::memory_order_relaxed);
    progress_.bytes_done.fetch_add(op.bytes_transferred, std::memory_order_relaxed);
    (op.status == OpStatus::kFail ? progress_.failed : progress_.done)[static_cast<int>(op.operation)]
        .fetch_add(1, std::memory_order_relaxed);
  }
  sink_->OnOperation(op);
}

void Engine::Impl::Monitor() {
  while (!done_.load()) {
    if (!aborted_.load()) {
      if (stop_ != nullptr && stop_->load()) {
        abort_reason_ = "interrupted by a signal; stopped before finishing";
        aborted_.store(true);
      } else if (lock_ != nullptr && !opt_.dry_run && !lock_->MayStillWrite()) {
        abort_reason_ = "lock lost: " + lock_->LostReason() + "; writes stopped (fencing)";
        aborted_.store(true);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Engine::Impl::ProbeClocks(EngineResult* result) {
  const ClockStep step = ProbeDestClock(dest_root_fd_, opt_.run_id, opt_.dest_root,
                                        plan_.threshold_ns, opt_.clock_skew_warn_ns);
  plan_.threshold_ns = step.window_ns;
  if (step.skew_ns) {
    result->clock_skew_ns = step.skew_ns;
    progress_.clock_skew_ns.store(*step.skew_ns);
  }
  result->mtime_precision_ns = step.precision_ns;
  if (!step.warning.empty()) Warn(step.warning);
}

EngineResult Engine::Impl::Run() {
  EngineResult result;
  auto src = io::OpenRoot(opt_.src_root);
  if (!src.ok()) { result.fatal = src.status(); return result; }
  io::UniqueFd src_root(*src);
  auto dest = io::OpenRoot(opt_.dest_root);
  if (!dest.ok()) { result.fatal = dest.status(); return result; }
  io::UniqueFd dest_root(*dest);
  src_root_fd_ = src_root.get();
  dest_root_fd_ = dest_root.get();

  const int64_t started_ms = opt_.started_at_ms != 0 ? opt_.started_at_ms : NowMs();
  stamp_ = Trash::Stamp(started_ms);
  plan_ = opt_.plan;
  plan_.now_ns = started_ms * 1000000;
  if (opt_.probe_clocks && !opt_.dry_run) {
    SetStage(Stage::kProbing);
    ProbeClocks(&result);
  }
  result.window_ns = plan_.threshold_ns;

  if (!opt_.state_path.empty()) {
    auto reader = StateReader::Open(opt_.state_path);
    if (!reader.ok()) {
      Warn(reader.status().message() + "; running without sync state");
    } else {
      state_reader_ = std::move(*reader);
    }
    // Without deletes the plain rules lose nothing; with them, say so.
    if (!state_reader_ && opt_.plan.delete_missing) {
      Warn("no sync state for this pair yet (first run or state lost): plain newest-wins rules, "
           "and --delete-missing deletes every dest entry missing in src");
    }
    if (!opt_.dry_run) {
      auto writer = StateWriter::Create(opt_.state_path);
      if (!writer.ok()) { result.fatal = writer.status(); return result; }
      state_writer_ = std::move(*writer);
    }
  }
  result.had_state = state_reader_ != nullptr;
  if (!opt_.dry_run && opt_.trash_retain_days > 0) {
    trash_ = std::make_unique<Trash>(dest_root_fd_, stamp_ + "-" + opt_.run_id);
    if (!opt_.undo_dir.empty()) manifest_ = std::make_unique<UndoManifest>(opt_.undo_dir, trash_->run_dir_name());
  }

  auto copier = MakeCopier(opt_, src_root_fd_, dest_root_fd_);
  if (!copier.ok()) {
    result.fatal = copier.status();
    return result;
  }
  copier_ = std::move(*copier);
  std::thread monitor([this] { Monitor(); });
  Status fatal;
  for (int pass = 0; pass < 2 && fatal.ok(); ++pass) {
    auto spool = DeleteSpool::Create();
    if (!spool.ok()) { fatal = spool.status(); break; }
    spool_ = std::move(*spool);
    // Room for files of several directories, so the workers can spread over
    // them (thread_pool.h); bounded, whatever the tree's size.
    pool_ = std::make_unique<ThreadPool>(opt_.workers, std::max<size_t>(opt_.workers * 4, kQueuedFiles));
    bool needs_second_pass = false;
    SetStage(Stage::kScanning);
    fatal = WalkPass(&needs_second_pass);
    SetStage(Stage::kCopying);
    pool_->Wait();
    pool_.reset();
    if (fatal.ok() && Stopping()) fatal = Status::Error(abort_reason_);
    if (fatal.ok()) {
      SetStage(Stage::kDeleting);
      fatal = RunDeletes();
    }
    // Spooled deletes that were not done (refused, disabled, stopped) are
    // no longer pending.
    AddPending(OpKind::kDelete, -progress_.pending[static_cast<int>(OpKind::kDelete)].load(), 0);
    if (fatal.ok() && Stopping()) fatal = Status::Error(abort_reason_);
    spool_.reset();
    // A type replacement deleted dest entries; the second pass creates them
    // from src (in dry-run the first pass already planned the creates).
    if (!needs_second_pass || opt_.dry_run) break;
  }
  done_.store(true);
  monitor.join();
  SetStage(Stage::kFinishing);

  if (state_writer_ && fatal.ok() && scan_errors_.load() == 0) {
    Status s = state_writer_->Commit();
    if (!s.ok()) Warn("sync state not saved: " + s.message());
  } else if (state_writer_) {
    Warn("sync state not updated (the run did not complete cleanly); the previous state stays");
  }
  if (!opt_.dry_run) {
    auto removed = Trash::RemoveExpired(dest_root_fd_, opt_.trash_retain_days, NowMs());
    if (!removed.ok()) Warn("trash cleanup: " + removed.status().message());
    RemoveExpiredManifests();
  }
  SetStage(Stage::kDone);
  result.fatal = fatal;
  result.settling = settling_.load();
  result.deletes_disabled = deletes_disabled_;
  result.planned_conflicts = planned_conflicts_.load();
  std::lock_guard<std::mutex> lock(mu_);
  result.counts = counts_;
  return result;
}

std::unique_ptr<Engine::Impl::Listing> Engine::Impl::ListPending(const PendingDir& p,
                                                                const std::string& rel) {
  auto l = std::make_unique<Listing>();
  auto src_fd = io::OpenChildDir(p.parent->src_fd, p.src.name, rel);
  if (!src_fd.ok()) {
    l->src_status = src_fd.status();
    return l;
  }
  l->src_fd.reset(*src_fd);
  l->src_status = io::ListDirectory(l->src_fd.get(), rel, &l->src);
  if ((p.dest_exists || p.created) && p.parent->dest_fd >= 0) {
    auto dest_fd = io::OpenChildDir(p.parent->dest_fd, p.src.name, rel);
    if (!dest_fd.ok()) {
      l->dest_status = dest_fd.status();
      return l;
    }
    l->dest_fd.reset(*dest_fd);
    l->dest_status = io::ListDirectory(l->dest_fd.get(), rel, &l->dest);
  }
  return l;
}

void Engine::Impl::StartListing(PendingDir* p) {
  auto promise = std::make_shared<std::promise<std::unique_ptr<Listing>>>();
  p->listing = std::make_shared<std::future<std::unique_ptr<Listing>>>(promise->get_future());
  // The task holds its own copy of what it reads (the parent node keeps the
  // parent fds open until the listing is consumed or dropped).
  PendingDir copy{p->parent, p->src, p->dest_exists, p->created, std::nullopt, nullptr, std::nullopt,
                  p->dest_mtime_ns};
  listing_pool_->Submit([promise, copy = std::move(copy)] {
    promise->set_value(ListPending(copy, Join(copy.parent->rel, copy.src.name)));
  });
}

Status Engine::Impl::WalkPass(bool* needs_second_pass) {
  Entry root_attrs;
  Status s = io::StatEntry(src_root_fd_, ".", opt_.src_root, &root_attrs);
  if (!s.ok()) return s;
  auto root = std::make_shared<DirNode>();
  root->eng = this;
  root->is_root = true;
  root->src_fd = src_root_fd_;
  root->dest_fd = dest_root_fd_;
  root->src_attrs = root_attrs;
  Entry dest_root_attrs;
  if (io::StatEntry(dest_root_fd_, ".", opt_.dest_root, &dest_root_attrs).ok()) {
    root->dest_mtime_before_ns = dest_root_attrs.mtime_ns;
  }

  const size_t listing_threads = std::clamp<size_t>(opt_.workers * 2, 4, 32);
  lookahead_ = listing_threads * 2;
  listing_pool_ = std::make_unique<ThreadPool>(listing_threads, lookahead_);

  std::vector<PendingDir> stack;
  {
    std::vector<Entry> src_entries, dest_entries;
    s = io::ListDirectory(src_root_fd_, ".", &src_entries);
    if (s.ok()) s = io::ListDirectory(dest_root_fd_, ".", &dest_entries);
    if (s.ok()) s = ProcessDir(root, std::move(src_entries), std::move(dest_entries), &stack, needs_second_pass);
    if (!s.ok()) {
      // An unreadable root must never look empty.
      scan_errors_.fetch_add(1);
      listing_pool_.reset();
      return s;
    }
  }
  root.reset();
  while (!stack.empty() && !Stopping()) {
    // The next directories to visit are the top of the stack: list them ahead.
    for (size_t i = stack.size(), n = 0; i-- > 0 && n < lookahead_; ++n) {
      if (!stack[i].listing) StartListing(&stack[i]);
    }
    PendingDir p = std::move(stack.back());
    stack.pop_back();
    const std::string rel = Join(p.parent->rel, p.src.name);
    std::unique_ptr<Listing> l = p.listing->get();
    auto node = std::make_shared<DirNode>();
    node->eng = this;
    node->parent = p.parent;
    node->rel = rel;
    node->src_attrs = p.src;
    node->created = p.created;
    node->dest_mtime_before_ns = p.dest_mtime_ns;
    const Status& failed = !l->src_status.ok() ? l->src_status : l->dest_status;
    if (!failed.ok()) {
      // Never plan anything, deletes least of all, against a directory we could not read.
      scan_errors_.fetch_add(1);
      KeepOldState(p.parent->rel, p.src.name, p.old ? &*p.old : nullptr);
      if (!p.create_op) {
        Fail(NewOp(p.dest_exists ? OpKind::kUpdate : OpKind::kCreate, rel + "/"), failed);
      } else if (p.created) {
        // One line for the path: the create, failed, saying what is on dest.
        Fail(std::move(*p.create_op),
             Status::Error(failed.message() +
                               "; the directory was created empty, nothing in it was synced",
                           failed.err()));
      } else {
        Fail(std::move(*p.create_op), failed);
      }
      continue;
    }
    if (p.create_op) Record(std::move(*p.create_op));
    node->src_fd = l->src_fd.release();
    node->dest_fd = l->dest_fd.release();
    p.parent.reset();
    (void)ProcessDir(node, std::move(l->src), std::move(l->dest), &stack, needs_second_pass);
  }
  // Stopped: directories created (or planned) but not visited still get their line.
  for (PendingDir& p : stack) {
    if (p.create_op) Record(std::move(*p.create_op));
  }
  stack.clear();  // drops unconsumed listings (their fds close with them)
  listing_pool_.reset();
  return Status::Ok();
}

Status Engine::Impl::ProcessDir(const NodePtr& node, std::vector<Entry> src_entries,
                                std::vector<Entry> dest_entries, std::vector<PendingDir>* stack,
                                bool* needs_second_pass) {
  progress_.dirs_scanned.fetch_add(1, std::memory_order_relaxed);
  Status s;
  // The trash, clock probes and excluded paths are never synced (temp files
  // are planned: leftovers in dest get removed).
  auto reserved = [&](const Entry& e) {
    if (node->is_root && !io::IsSyncTempName(e.name) && IsReservedName(e.name, true)) return true;
    if (opt_.excluded.empty()) return false;
    const std::string rel = Join(node->rel, e.name);
    return std::find(opt_.excluded.begin(), opt_.excluded.end(), rel) != opt_.excluded.end();
  };
  src_entries.erase(std::remove_if(src_entries.begin(), src_entries.end(), reserved), src_entries.end());
  dest_entries.erase(std::remove_if(dest_entries.begin(), dest_entries.end(), reserved),
                     dest_entries.end());
  std::vector<StateEntry> state_entries;
  if (state_reader_) {
    s = state_reader_->LoadDir(node->rel, &state_entries);
    if (!s.ok()) {
      scan_errors_.fetch_add(1);
      Fail(NewOp(OpKind::kUpdate, node->rel + "/"), s);
      return node->is_root ? s : Status::Ok();
    }
  }
  progress_.entries_scanned.fetch_add(static_cast<int64_t>(src_entries.size() + dest_entries.size()),
                                      std::memory_order_relaxed);
  for (const Entry& d : dest_entries) {
    if (d.type != FileType::kDir) ++dest_files_seen_;
  }
  const std::vector<Action> plan =
      PlanDirectory(src_entries, dest_entries, state_reader_ ? &state_entries : nullptr, plan_);
  const size_t stack_base = stack->size();
  bool spooled_here = false;
  std::vector<StateEntry> next_state;
  for (const Action& a : plan) {
    if (Stopping()) return Status::Ok();
    if (a.next == NextState::kRecordSource) {
      next_state.push_back(ToState(*a.src));
    } else if (a.next == NextState::kKeepOld && a.state != nullptr) {
      next_state.push_back(*a.state);
      if (a.state->type == FileType::kDir && state_writer_ && a.kind != ActionKind::kDescend) {
        CarryStateSubtree(Join(node->rel, a.state->name));
      }
    }
    HandleAction(node, a, stack, needs_second_pass, &spooled_here);
  }
  if (state_writer_) {
    Status st = state_writer_->WriteDir(node->rel, std::move(next_state));
    if (!st.ok()) {
      scan_errors_.fetch_add(1);  // an incomplete state must not be committed
      Warn(st.message());
    }
  }
  // Visit subdirectories in name order: the stack pops the last one first.
  std::reverse(stack->begin() + static_cast<std::ptrdiff_t>(stack_base), stack->end());
  if (spooled_here && !opt_.dry_run) {
    node->deletes_here = true;
    SpoolRecord m;
    m.kind = SpoolRecord::Kind::kRestoreDirTimes;
    m.is_dir = true;
    m.atime_ns = node->src_attrs.atime_ns;
    m.mtime_ns = node->src_attrs.mtime_ns;
    m.rel_path = node->rel;
    Status st = spool_->Append(m);
    if (!st.ok()) Warn(st.message());
  }
  return Status::Ok();
}

void Engine::Impl::HandleAction(const NodePtr& node, const Action& a,
                                std::vector<PendingDir>* stack, bool* needs_second_pass,
                                bool* spooled_here) {
  const std::string& name = a.src != nullptr ? a.src->name : a.dest->name;
  const std::string rel = Join(node->rel, name);
  std::optional<StateEntry> old;
  if (a.state != nullptr) old = *a.state;
  switch (a.kind) {
    case ActionKind::kInSync:
    case ActionKind::kDestNewer:
      CountSkipped();
      return;
    case ActionKind::kLeaveDestOnly:
    case ActionKind::kIgnoreSourceTemp:
    case ActionKind::kNewOnDest:
    case ActionKind::kDeletedOnDest:
      return;
    case ActionKind::kDestChangedKeep:
      Warn("kept '" + EscapeForDisplay(rel) +
           "': deleted in src but changed in dest since the last sync (a change beats a delete)");
      return;
    case ActionKind::kSettling:
      settling_.fetch_add(1);
      CountSkipped();
      return;
    case ActionKind::kFutureDated:
    case ActionKind::kSkipSpecial:
      Warn("skipped '" + EscapeForDisplay(rel) + "': " + a.reason);
      CountSkipped();
      return;
    case ActionKind::kRemoveStaleTemp:
      if (!IsOwnTemp(*a.dest)) {
        Warn("left '" + EscapeForDisplay(rel) +
             "' alone: it is named like an ha-sync temp file, but no run of this pair made it");
      } else if (!opt_.dry_run) {
        Status s = io::RemoveEntry(node->dest_fd, name, false, rel);
        if (s.ok()) Warn("removed a temp file left by an earlier run: '" + EscapeForDisplay(rel) + "'");
        else Warn(s.message());
      }
      return;
    case ActionKind::kConflict: {
      OpRecord op = NewOp(OpKind::kUpdate, rel);
      if (a.dest->type == FileType::kFile) op.size_before = a.dest->size;
      // In a dry-run the record is the one the real run will write: part
      // of the plan, not a failure of the dry-run (EngineResult).
      if (opt_.dry_run) planned_conflicts_.fetch_add(1, std::memory_order_relaxed);
      Fail(std::move(op), Status::Error(a.reason));
      return;
    }
    case ActionKind::kCreateFile:
    case ActionKind::kUpdateFile:
    case ActionKind::kHashThenUpdate:
    case ActionKind::kConflictCopy:
    case ActionKind::kCreateSymlink:
    case ActionKind::kUpdateSymlink:
      SubmitFileWork(node, a.kind, *a.src, a.dest, a.state);
      return;
    case ActionKind::kCreateDir: {
      OpRecord op = NewOp(OpKind::kCreate, rel + "/");
      if (opt_.dry_run || node->dest_fd < 0) {
        stack->push_back({node, *a.src, false, false, old, nullptr, std::move(op), -1});
        return;
      }
      sink_->OnIntent(op);
      Status s = io::MakeDir(node->dest_fd, name, rel);
      if (!s.ok()) {
        KeepOldState(node->rel, name, a.state);
        Fail(std::move(op), s);
        return;
      }
      node->changed = true;
      Remember(OpKind::kCreate, rel, FileType::kDir, 0, a.src->mtime_ns);
      stack->push_back({node, *a.src, false, true, old, nullptr, std::move(op), -1});
      return;
    }
    case ActionKind::kDescend:
      stack->push_back({node, *a.src, true, false, old, nullptr, std::nullopt, a.dest->mtime_ns});
      return;
    case ActionKind::kDelete:
    case ActionKind::kReplace: {
      bool all_deleted = true;
      Status s = SpoolSubtree(node->dest_fd, rel, *a.dest, &all_deleted);
      if (!s.ok()) {
        scan_errors_.fetch_add(1);
        Fail(NewOp(OpKind::kDelete, a.dest->type == FileType::kDir ? rel + "/" : rel), s);
        return;
      }
      *spooled_here = true;
      if (a.kind == ActionKind::kReplace) {
        *needs_second_pass = true;
        if (opt_.dry_run) {  // plan the creates now, as if dest were missing
          if (a.src->type == FileType::kDir) {
            stack->push_back(
                {node, *a.src, false, false, old, nullptr, NewOp(OpKind::kCreate, rel + "/"), -1});
          } else {
            SubmitFileWork(node,
                           a.src->type == FileType::kSymlink ? ActionKind::kCreateSymlink
                                                             : ActionKind::kCreateFile,
                           *a.src, nullptr, nullptr);
          }
        }
      }
      return;
    }
  }
}

void Engine::Impl::SubmitFileWork(const NodePtr& node, ActionKind kind, const Entry& src,
                                  const Entry* dest, const StateEntry* old) {
  if (opt_.dry_run) {
    const bool create = kind == ActionKind::kCreateFile || kind == ActionKind::kCreateSymlink;
    OpRecord op = NewOp(create ? OpKind::kCreate : OpKind::kUpdate, Join(node->rel, src.name));
    if (dest != nullptr) op.size_before = dest->size;
    op.size_after = src.size;
    Record(std::move(op));
    return;
  }
  std::optional<Entry> dest_copy;
  if (dest != nullptr) dest_copy = *dest;
  std::optional<StateEntry> old_copy;
  if (old != nullptr) old_copy = *old;
  progress_.queued.fetch_add(1, std::memory_order_relaxed);
  const OpKind pending_kind = dest == nullptr ? OpKind::kCreate : OpKind::kUpdate;
  const int64_t pending_bytes = src.type == FileType::kFile ? src.size : 0;
  AddPending(pending_kind, 1, pending_bytes);
  pool_->Submit([this, node, kind, src, dest_copy, old_copy, pending_kind, pending_bytes] {
    progress_.queued.fetch_sub(1, std::memory_order_relaxed);
    WorkScope work(this, pending_kind, pending_bytes);  // no longer pending however it ends
    if (Stopping()) return;  // never started: nothing to record
    const Entry* d = dest_copy ? &*dest_copy : nullptr;
    bool ok;
    if (kind == ActionKind::kCreateSymlink || kind == ActionKind::kUpdateSymlink) {
      ok = DoSymlink(node, kind, src, d);
    } else if (kind == ActionKind::kConflictCopy) {
      ok = DoConflictCopy(node, src, *d);
    } else {
      ok = DoCopy(node, kind, src, d);
    }
    if (!ok) KeepOldState(node->rel, src.name, old_copy ? &*old_copy : nullptr);
  }, reinterpret_cast<uintptr_t>(node.get()));
}

bool Engine::Impl::DoCopy(const NodePtr& node, ActionKind kind, const Entry& src,
                          const Entry* dest, bool trash_previous, const std::string& conflict_copy) {
  const std::string rel = Join(node->rel, src.name);
  OpRecord op = NewOp(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  io::CopyOptions copy_options;
  copy_options.block_size = opt_.block_size;
  copy_options.fsync = opt_.fsync;
  copy_options.cancel = &aborted_;
  copy_options.block_delay_ms = opt_.test_block_delay_ms;
  copy_options.expected_size = src.size;
  copy_options.temp_tag = opt_.temp_tag;

  if (kind == ActionKind::kHashThenUpdate) {
    std::string src_md5, dest_md5;
    Status s = io::HashFile(node->src_fd, src.name, rel, copy_options, &src_md5);
    if (s.ok()) s = io::HashFile(node->dest_fd, src.name, rel, copy_options, &dest_md5);
    if (!s.ok()) {
      if (s.err() != ECANCELED) Fail(std::move(op), s);
      return false;
    }
    op.md5_before = dest_md5;
    if (src_md5 == dest_md5) {
      // Same bytes, newer mtime on src: carry the mtime only.
      s = io::SetTimes(node->dest_fd, src.name, src.atime_ns, src.mtime_ns, rel);
      if (!s.ok()) {
        Fail(std::move(op), s);
        return false;
      }
      op.size_after = src.size;
      op.md5_after = src_md5;
      node->changed = true;
      Record(std::move(op));
      Remember(OpKind::kUpdate, rel, FileType::kFile, src.size, src.mtime_ns,
               "mtime:" + std::to_string(dest->mtime_ns));
      return true;
    }
  }
  if (dest != nullptr && trash_previous && trash_) {
    Status s = trash_->LinkIn(node->dest_fd, rel);
    if (!s.ok()) {
      Fail(std::move(op), s);
      return false;
    }
  }
  io::CopyOutcome outcome;
  sink_->OnIntent(op);
  Status s = copier_->Copy(node->src_fd, node->dest_fd, src.name, rel, copy_options, &outcome);
  if (!s.ok()) {
    // Its intent is in the opslog: a copy the stop cut short is recorded
    // as such (the copier removed its temp file; the target is untouched).
    if (s.err() == ECANCELED) s = Status::Error(kCancelledCopy, ECANCELED);
    Fail(std::move(op), s);
    return false;
  }
  op.size_after = outcome.bytes;
  op.md5_after = outcome.md5;
  op.bytes_transferred = outcome.bytes;
  node->changed = true;
  Record(std::move(op));
  std::optional<std::string> previous;
  if (dest != nullptr) previous = trash_previous ? std::string("trash") : "conflict:" + conflict_copy;
  Remember(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel, FileType::kFile, outcome.bytes,
           outcome.source.mtime_ns, previous);
  return true;
}

bool Engine::Impl::DoConflictCopy(const NodePtr& node, const Entry& src, const Entry& dest) {
  if (src.size == dest.size) {
    // Maybe the same bytes with different times: then it is no conflict.
    io::CopyOptions hash_options;
    hash_options.block_size = opt_.block_size;
    hash_options.cancel = &aborted_;
    std::string a, b;
    const std::string rel = Join(node->rel, src.name);
    if (io::HashFile(node->src_fd, src.name, rel, hash_options, &a).ok() &&
        io::HashFile(node->dest_fd, src.name, rel, hash_options, &b).ok() && a == b) {
      return DoCopy(node, ActionKind::kHashThenUpdate, src, &dest);
    }
  }
  const std::string loser = ConflictCopyName(src.name, stamp_, opt_.direction);
  const std::string loser_rel = Join(node->rel, loser);
  OpRecord keep = NewOp(OpKind::kCreate, loser_rel);
  keep.size_after = dest.size;
  sink_->OnIntent(keep);
  if (::linkat(node->dest_fd, src.name.c_str(), node->dest_fd, loser.c_str(), 0) != 0) {
    Fail(std::move(keep), Status::FromErrno(errno, "keep conflict copy", loser_rel));
    return false;
  }
  Record(std::move(keep));
  Remember(OpKind::kCreate, loser_rel, FileType::kFile, dest.size, dest.mtime_ns);
  Warn("conflict on '" + EscapeForDisplay(Join(node->rel, src.name)) +
       "': changed on both sides; the destination's version is kept as '" +
       EscapeForDisplay(loser_rel) + "'");
  // The dest version is safe as the conflict copy: no trash link needed.
  return DoCopy(node, ActionKind::kUpdateFile, src, &dest, /*trash_previous=*/false, loser_rel);
}

bool Engine::Impl::DoSymlink(const NodePtr& node, ActionKind kind, const Entry& src,
                             const Entry* dest) {
  const std::string rel = Join(node->rel, src.name);
  OpRecord op = NewOp(kind == ActionKind::kCreateSymlink ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  Status s;
  if (dest != nullptr && trash_) s = trash_->LinkIn(node->dest_fd, rel);
  if (s.ok()) {
    sink_->OnIntent(op);
    s = io::CopySymlinkAtomic(node->dest_fd, src, rel, opt_.temp_tag);
  }
  if (!s.ok()) {
    Fail(std::move(op), s);
    return false;
  }
  op.size_after = static_cast<int64_t>(src.link_target.size());
  node->changed = true;
  Record(std::move(op));
  std::optional<std::string> previous;
  if (dest != nullptr && trash_) previous = "trash";
  Remember(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel, FileType::kSymlink,
           static_cast<int64_t>(src.link_target.size()), src.mtime_ns, previous);
  return true;
}

void Engine::Impl::CarryStateSubtree(const std::string& rel) {
  std::vector<StateEntry> entries;
  Status s = state_reader_->LoadDir(rel, &entries);
  if (s.ok()) s = state_writer_->WriteDir(rel, entries);
  if (!s.ok()) {
    scan_errors_.fetch_add(1);
    Warn(s.message());
    return;
  }
  for (const StateEntry& e : entries) {
    if (e.type == FileType::kDir) CarryStateSubtree(Join(rel, e.name));
  }
}

Status Engine::Impl::SpoolSubtree(int parent_fd, const std::string& rel, const Entry& entry,
                                  bool* all_deleted) {
  *all_deleted = true;
  if (entry.type == FileType::kDir) {
    auto fd = io::OpenChildDir(parent_fd, entry.name, rel);
    if (!fd.ok()) return fd.status();
    io::UniqueFd dir(*fd);
    std::vector<Entry> children;
    Status s = io::ListDirectory(dir.get(), rel, &children);
    if (!s.ok()) return s;
    progress_.entries_scanned.fetch_add(static_cast<int64_t>(children.size()),
                                        std::memory_order_relaxed);
    std::vector<StateEntry> state;
    if (state_reader_) {
      s = state_reader_->LoadDir(rel, &state);
      if (!s.ok()) return s;
    }
    size_t k = 0;
    for (const Entry& child : children) {
      if (child.type != FileType::kDir) ++dest_files_seen_;
      const std::string child_rel = Join(rel, child.name);
      if (state_reader_) {
        // Only what was synced before and is unchanged since goes; anything
        // new or changed on dest is kept (and so is this directory).
        while (k < state.size() && state[k].name < child.name) ++k;
        const bool known = k < state.size() && state[k].name == child.name;
        const bool young = plan_.min_age_ns > 0 && child.type != FileType::kDir &&
                           child.mtime_ns > plan_.now_ns - plan_.min_age_ns;
        if (!known || young || !SameAsState(child, state[k])) {
          *all_deleted = false;
          continue;
        }
      }
      bool child_all = true;
      s = SpoolSubtree(dir.get(), child_rel, child, &child_all);
      if (!s.ok()) return s;
      *all_deleted = *all_deleted && child_all;
    }
    if (!*all_deleted) return Status::Ok();  // the directory stays
  }
  SpoolRecord r;
  r.kind = SpoolRecord::Kind::kDelete;
  r.is_dir = entry.type == FileType::kDir;
  r.type = static_cast<uint8_t>(entry.type);
  r.size = entry.type == FileType::kFile ? entry.size : 0;
  r.mtime_ns = entry.mtime_ns;
  r.rel_path = rel;
  Status s = spool_->Append(r);
  if (s.ok()) AddPending(OpKind::kDelete, 1, 0);
  return s;
}

Status Engine::Impl::CheckVanishedShare(int64_t files) const {
  // The share of what the last sync saw that is now to go; a partly
  // unmounted src (a nested mount) looks exactly like that. Without state
  // (a first run) nothing was seen yet: --max-delete is the limit there.
  // A few files are an ordinary edit, and go to the trash anyway.
  if (!state_reader_ || files <= kVanishedFloor) return Status::Ok();
  const int64_t known = state_reader_->files();
  if (opt_.max_vanished_percent >= 100 || known <= 0) return Status::Ok();
  const double pct = 100.0 * static_cast<double>(files) / static_cast<double>(known);
  if (pct <= opt_.max_vanished_percent) return Status::Ok();
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "refusing to delete %lld of the %lld files the sync state knows (%.1f%%): more "
                "than --max-delete-percent %g; nothing was deleted (is part of the source "
                "unmounted? if this is intended, rerun with --max-delete-percent 100)",
                static_cast<long long>(files), static_cast<long long>(known), pct,
                opt_.max_vanished_percent);
  return Status::Error("pair '" + opt_.pair + "': " + buf);
}

Status Engine::Impl::RunDeletes() {
  if (spool_->records() == 0) return Status::Ok();
  if (scan_errors_.load() > 0) {
    deletes_disabled_ = true;
    Warn("deletes disabled for this run: " + std::to_string(scan_errors_.load()) +
         " read error(s) during the scan; " + std::to_string(spool_->files()) +
         " planned delete(s) not done");
    return Status::Ok();
  }
  const int64_t files = spool_->files();
  if (opt_.max_delete_count && files > *opt_.max_delete_count) {
    return Status::Error("refusing to delete " + std::to_string(files) + " files: more than --max-delete " +
                         std::to_string(*opt_.max_delete_count) + "; nothing was deleted");
  }
  if (opt_.max_delete_percent && dest_files_seen_ > 0) {
    const double pct = 100.0 * static_cast<double>(files) / static_cast<double>(dest_files_seen_);
    if (pct > *opt_.max_delete_percent) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "refusing to delete %lld of %lld dest files (%.1f%%): more than --max-delete "
                    "%g%%; nothing was deleted",
                    static_cast<long long>(files), static_cast<long long>(dest_files_seen_), pct,
                    *opt_.max_delete_percent);
      return Status::Error(buf);
    }
  }
  if (Status guard = CheckVanishedShare(files); !guard.ok()) return guard;
  Status s = spool_->Rewind();
  if (!s.ok()) return s;
  io::UniqueFd parent_fd;
  std::string parent_rel = "\x01";  // no path equals this: forces the first open
  SpoolRecord r;
  Status read_status;
  while (spool_->Next(&r, &read_status)) {
    if (Stopping()) return Status::Ok();
    if (r.kind == SpoolRecord::Kind::kRestoreDirTimes) {
      if (opt_.dry_run) continue;
      auto fd = io::OpenDirBeneath(dest_root_fd_, r.rel_path);
      if (!fd.ok()) { Warn(fd.status().message()); continue; }
      io::UniqueFd dir(*fd);
      Entry like;
      like.atime_ns = r.atime_ns;
      like.mtime_ns = r.mtime_ns;
      const struct timespec times[2] = {
          {static_cast<time_t>(r.atime_ns / 1000000000), r.atime_ns % 1000000000},
          {static_cast<time_t>(r.mtime_ns / 1000000000), r.mtime_ns % 1000000000}};
      if (::futimens(dir.get(), times) != 0) {
        Warn(Status::FromErrno(errno, "set times", r.rel_path).message());
      }
      continue;
    }
    WorkScope work(this, OpKind::kDelete, 0);
    OpRecord op = NewOp(OpKind::kDelete, r.is_dir ? r.rel_path + "/" : r.rel_path);
    if (!r.is_dir) op.size_before = r.size;
    if (opt_.dry_run) {
      Record(std::move(op));
      continue;
    }
    std::string parent, name;
    SplitParent(r.rel_path, &parent, &name);
    if (parent != parent_rel) {
      auto fd = io::OpenDirBeneath(dest_root_fd_, parent);
      if (!fd.ok()) {
        parent_rel = "\x01";
        parent_fd.reset();
        scan_errors_.fetch_add(1);  // keep the old state: the delete did not happen
        Fail(std::move(op), fd.status());
        continue;
      }
      parent_fd.reset(*fd);
      parent_rel = parent;
    }
    // Files go to the trash; a directory is empty by now (its children went first).
    sink_->OnIntent(op);
    s = trash_ && !r.is_dir ? trash_->MoveIn(parent_fd.get(), r.rel_path)
                            : io::RemoveEntry(parent_fd.get(), name, r.is_dir, r.rel_path);
    if (!s.ok()) {
      StateEntry still;
      still.name = name;
      still.type = static_cast<FileType>(r.type);
      still.size = r.size;
      still.mtime_ns = r.mtime_ns;
      KeepOldState(parent, name, &still);
      Fail(std::move(op), s);
      continue;
    }
    Record(std::move(op));
    Remember(OpKind::kDelete, r.rel_path, static_cast<FileType>(r.type), r.size, r.mtime_ns,
             trash_ && !r.is_dir ? std::optional<std::string>("trash") : std::nullopt);
  }
  return read_status;
}

void Engine::Impl::RemoveExpiredManifests() {
  if (opt_.undo_dir.empty()) return;
  io::UniqueFd dir(::open(opt_.undo_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return;  // no run of this pair kept one yet
  // A manifest is of use only while its trash is kept.
  const int64_t days = std::max<int64_t>(opt_.trash_retain_days, 1);
  auto removed = Trash::RemoveExpiredIn(dir.get(), opt_.undo_dir, days, NowMs());
  if (!removed.ok()) Warn("undo manifest cleanup: " + removed.status().message());
}

Engine::Engine(EngineOptions options, OpSink* sink, const RunLock* lock,
               const std::atomic<bool>* stop)
    : impl_(std::make_unique<Impl>(std::move(options), sink, lock, stop)) {}
Engine::~Engine() = default;
EngineResult Engine::Run() { return impl_->Run(); }
const Progress& Engine::progress() const { return impl_->progress_; }

}  // namespace ha_sync::pipeline
