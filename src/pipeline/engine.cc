#include "pipeline/engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_copy.h"
#include "io/file_ops.h"
#include "pipeline/delete_spool.h"
#include "pipeline/thread_pool.h"

namespace ha_sync::pipeline {

using io::Entry;
using io::FileType;

namespace {

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

class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd() { reset(); }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

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
    ~DirNode();
  };
  using NodePtr = std::shared_ptr<DirNode>;

  struct PendingDir {
    NodePtr parent;
    Entry src;
    bool dest_exists = false;
    bool created = false;
  };

  bool Stopping() const { return aborted_.load(std::memory_order_acquire); }
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
  Status ProcessDir(const NodePtr& node, std::vector<PendingDir>* stack, bool* needs_second_pass);
  void HandleAction(const NodePtr& node, const Action& a, std::vector<PendingDir>* stack,
                    bool* needs_second_pass, bool* spooled_here);
  void SubmitFileWork(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest);
  void DoCopy(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest);
  void DoSymlink(const NodePtr& node, ActionKind kind, const Entry& src, const Entry* dest);
  Status SpoolSubtree(int parent_fd, const std::string& rel, const Entry& entry);
  Status RunDeletes();
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
  std::unique_ptr<DeleteSpool> spool_;
  std::unique_ptr<ThreadPool> pool_;
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
  if (src_fd >= 0 && !is_root) ::close(src_fd);
  if (dest_fd >= 0 && !is_root) ::close(dest_fd);
}

void Engine::Impl::Record(OpRecord op) {
  if (!op.ended_at_ms) op.ended_at_ms = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.Add(op);
  }
  progress_.ops_done.fetch_add(1, std::memory_order_relaxed);
  progress_.bytes_done.fetch_add(op.bytes_transferred, std::memory_order_relaxed);
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

EngineResult Engine::Impl::Run() {
  EngineResult result;
  auto src = io::OpenRoot(opt_.src_root);
  if (!src.ok()) { result.fatal = src.status(); return result; }
  ScopedFd src_root(*src);
  auto dest = io::OpenRoot(opt_.dest_root);
  if (!dest.ok()) { result.fatal = dest.status(); return result; }
  ScopedFd dest_root(*dest);
  src_root_fd_ = src_root.get();
  dest_root_fd_ = dest_root.get();

  std::thread monitor([this] { Monitor(); });
  Status fatal;
  for (int pass = 0; pass < 2 && fatal.ok(); ++pass) {
    auto spool = DeleteSpool::Create();
    if (!spool.ok()) { fatal = spool.status(); break; }
    spool_ = std::move(*spool);
    pool_ = std::make_unique<ThreadPool>(opt_.workers, opt_.workers * 4);
    bool needs_second_pass = false;
    fatal = WalkPass(&needs_second_pass);
    pool_->Wait();
    pool_.reset();
    if (fatal.ok() && Stopping()) fatal = Status::Error(abort_reason_);
    if (fatal.ok()) fatal = RunDeletes();
    if (fatal.ok() && Stopping()) fatal = Status::Error(abort_reason_);
    spool_.reset();
    // A type replacement deleted dest entries; the second pass creates them
    // from src (in dry-run the first pass already planned the creates).
    if (!needs_second_pass || opt_.dry_run) break;
  }
  done_.store(true);
  monitor.join();
  result.fatal = fatal;
  std::lock_guard<std::mutex> lock(mu_);
  result.counts = counts_;
  return result;
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

  std::vector<PendingDir> stack;
  s = ProcessDir(root, &stack, needs_second_pass);
  if (!s.ok()) return s;  // an unreadable root must never look empty
  root.reset();
  while (!stack.empty() && !Stopping()) {
    PendingDir p = std::move(stack.back());
    stack.pop_back();
    const std::string rel = Join(p.parent->rel, p.src.name);
    auto node = std::make_shared<DirNode>();
    node->eng = this;
    node->parent = p.parent;
    node->rel = rel;
    node->src_attrs = p.src;
    node->created = p.created;
    auto src_fd = io::OpenChildDir(p.parent->src_fd, p.src.name, rel);
    if (!src_fd.ok()) {
      Fail(NewOp(p.dest_exists ? OpKind::kUpdate : OpKind::kCreate, rel + "/"), src_fd.status());
      continue;
    }
    node->src_fd = *src_fd;
    if ((p.dest_exists || p.created) && p.parent->dest_fd >= 0) {
      auto dest_fd = io::OpenChildDir(p.parent->dest_fd, p.src.name, rel);
      if (!dest_fd.ok()) {
        Fail(NewOp(OpKind::kUpdate, rel + "/"), dest_fd.status());
        continue;
      }
      node->dest_fd = *dest_fd;
    }
    p.parent.reset();
    (void)ProcessDir(node, &stack, needs_second_pass);
  }
  return Status::Ok();
}

Status Engine::Impl::ProcessDir(const NodePtr& node, std::vector<PendingDir>* stack,
                                bool* needs_second_pass) {
  progress_.dirs_scanned.fetch_add(1, std::memory_order_relaxed);
  const std::string display = node->rel.empty() ? "." : node->rel;
  std::vector<Entry> src_entries, dest_entries;
  Status s = io::ListDirectory(node->src_fd, display, &src_entries);
  if (s.ok() && node->dest_fd >= 0) s = io::ListDirectory(node->dest_fd, display, &dest_entries);
  if (!s.ok()) {
    // Never plan anything, deletes least of all, against a directory we could not read.
    if (!node->is_root) Fail(NewOp(OpKind::kUpdate, node->rel + "/"), s);
    return s;
  }
  progress_.entries_scanned.fetch_add(static_cast<int64_t>(src_entries.size() + dest_entries.size()),
                                      std::memory_order_relaxed);
  for (const Entry& d : dest_entries) {
    if (d.type != FileType::kDir) ++dest_files_seen_;
  }
  const std::vector<Action> plan = PlanDirectory(src_entries, dest_entries, opt_.plan);
  const size_t stack_base = stack->size();
  bool spooled_here = false;
  for (const Action& a : plan) {
    if (Stopping()) return Status::Ok();
    HandleAction(node, a, stack, needs_second_pass, &spooled_here);
  }
  // Visit subdirectories in name order: the stack pops the last one first.
  std::reverse(stack->begin() + static_cast<std::ptrdiff_t>(stack_base), stack->end());
  if (spooled_here && !opt_.dry_run) {
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
  switch (a.kind) {
    case ActionKind::kInSync:
    case ActionKind::kDestNewer:
      CountSkipped();
      return;
    case ActionKind::kLeaveDestOnly:
    case ActionKind::kIgnoreSourceTemp:
      return;
    case ActionKind::kSkipSpecial:
      Warn("skipped '" + EscapeForDisplay(rel) + "': " + a.reason);
      CountSkipped();
      return;
    case ActionKind::kRemoveStaleTemp:
      if (!opt_.dry_run) {
        Status s = io::RemoveEntry(node->dest_fd, name, a.dest->type == FileType::kDir, rel);
        if (s.ok()) Warn("removed a temp file left by an earlier run: '" + EscapeForDisplay(rel) + "'");
        else Warn(s.message());
      }
      return;
    case ActionKind::kConflict: {
      OpRecord op = NewOp(OpKind::kUpdate, rel);
      if (a.dest->type == FileType::kFile) op.size_before = a.dest->size;
      Fail(std::move(op), Status::Error(a.reason));
      return;
    }
    case ActionKind::kCreateFile:
    case ActionKind::kUpdateFile:
    case ActionKind::kHashThenUpdate:
    case ActionKind::kCreateSymlink:
    case ActionKind::kUpdateSymlink:
      SubmitFileWork(node, a.kind, *a.src, a.dest);
      return;
    case ActionKind::kCreateDir: {
      OpRecord op = NewOp(OpKind::kCreate, rel + "/");
      if (opt_.dry_run || node->dest_fd < 0) {
        Record(std::move(op));
        stack->push_back({node, *a.src, false, false});
        return;
      }
      Status s = io::MakeDir(node->dest_fd, name, rel);
      if (!s.ok()) {
        Fail(std::move(op), s);
        return;
      }
      node->changed = true;
      Record(std::move(op));
      stack->push_back({node, *a.src, false, true});
      return;
    }
    case ActionKind::kDescend:
      stack->push_back({node, *a.src, true, false});
      return;
    case ActionKind::kDelete:
    case ActionKind::kReplace: {
      Status s = SpoolSubtree(node->dest_fd, rel, *a.dest);
      if (!s.ok()) {
        Fail(NewOp(OpKind::kDelete, a.dest->type == FileType::kDir ? rel + "/" : rel), s);
        return;
      }
      *spooled_here = true;
      if (a.kind == ActionKind::kReplace) {
        *needs_second_pass = true;
        if (opt_.dry_run) {  // plan the creates now, as if dest were missing
          if (a.src->type == FileType::kDir) {
            Record(NewOp(OpKind::kCreate, rel + "/"));
            stack->push_back({node, *a.src, false, false});
          } else {
            SubmitFileWork(node,
                           a.src->type == FileType::kSymlink ? ActionKind::kCreateSymlink
                                                             : ActionKind::kCreateFile,
                           *a.src, nullptr);
          }
        }
      }
      return;
    }
  }
}

void Engine::Impl::SubmitFileWork(const NodePtr& node, ActionKind kind, const Entry& src,
                                  const Entry* dest) {
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
  progress_.queued.fetch_add(1, std::memory_order_relaxed);
  pool_->Submit([this, node, kind, src, dest_copy] {
    progress_.queued.fetch_sub(1, std::memory_order_relaxed);
    if (Stopping()) return;  // never started: nothing to record
    const Entry* d = dest_copy ? &*dest_copy : nullptr;
    if (kind == ActionKind::kCreateSymlink || kind == ActionKind::kUpdateSymlink) {
      DoSymlink(node, kind, src, d);
    } else {
      DoCopy(node, kind, src, d);
    }
  });
}

void Engine::Impl::DoCopy(const NodePtr& node, ActionKind kind, const Entry& src,
                          const Entry* dest) {
  const std::string rel = Join(node->rel, src.name);
  OpRecord op = NewOp(dest == nullptr ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  io::CopyOptions copy_options;
  copy_options.block_size = opt_.block_size;
  copy_options.fsync = opt_.fsync;
  copy_options.cancel = &aborted_;
  copy_options.block_delay_ms = opt_.test_block_delay_ms;

  if (kind == ActionKind::kHashThenUpdate) {
    std::string src_md5, dest_md5;
    Status s = io::HashFile(node->src_fd, src.name, rel, copy_options, &src_md5);
    if (s.ok()) s = io::HashFile(node->dest_fd, src.name, rel, copy_options, &dest_md5);
    if (!s.ok()) {
      if (s.err() != ECANCELED) Fail(std::move(op), s);
      return;
    }
    op.md5_before = dest_md5;
    if (src_md5 == dest_md5) {
      // Same bytes, newer mtime on src: carry the mtime only.
      s = io::SetTimes(node->dest_fd, src.name, src.atime_ns, src.mtime_ns, rel);
      if (!s.ok()) {
        Fail(std::move(op), s);
        return;
      }
      op.size_after = src.size;
      op.md5_after = src_md5;
      node->changed = true;
      Record(std::move(op));
      return;
    }
  }
  io::CopyOutcome outcome;
  Status s = io::CopyFileAtomic(node->src_fd, node->dest_fd, src.name, rel, copy_options, &outcome);
  if (!s.ok()) {
    if (s.err() != ECANCELED) Fail(std::move(op), s);
    return;
  }
  op.size_after = outcome.bytes;
  op.md5_after = outcome.md5;
  op.bytes_transferred = outcome.bytes;
  node->changed = true;
  Record(std::move(op));
}

void Engine::Impl::DoSymlink(const NodePtr& node, ActionKind kind, const Entry& src,
                             const Entry* dest) {
  const std::string rel = Join(node->rel, src.name);
  OpRecord op = NewOp(kind == ActionKind::kCreateSymlink ? OpKind::kCreate : OpKind::kUpdate, rel);
  if (dest != nullptr) op.size_before = dest->size;
  Status s = io::CopySymlinkAtomic(node->dest_fd, src, rel);
  if (!s.ok()) {
    Fail(std::move(op), s);
    return;
  }
  op.size_after = static_cast<int64_t>(src.link_target.size());
  node->changed = true;
  Record(std::move(op));
}

Status Engine::Impl::SpoolSubtree(int parent_fd, const std::string& rel, const Entry& entry) {
  if (entry.type == FileType::kDir) {
    auto fd = io::OpenChildDir(parent_fd, entry.name, rel);
    if (!fd.ok()) return fd.status();
    ScopedFd dir(*fd);
    std::vector<Entry> children;
    Status s = io::ListDirectory(dir.get(), rel, &children);
    if (!s.ok()) return s;
    progress_.entries_scanned.fetch_add(static_cast<int64_t>(children.size()),
                                        std::memory_order_relaxed);
    for (const Entry& child : children) {
      if (child.type != FileType::kDir) ++dest_files_seen_;
      s = SpoolSubtree(dir.get(), Join(rel, child.name), child);
      if (!s.ok()) return s;
    }
  }
  SpoolRecord r;
  r.kind = SpoolRecord::Kind::kDelete;
  r.is_dir = entry.type == FileType::kDir;
  r.size = entry.type == FileType::kFile ? entry.size : 0;
  r.rel_path = rel;
  return spool_->Append(r);
}

Status Engine::Impl::RunDeletes() {
  if (spool_->records() == 0) return Status::Ok();
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
  Status s = spool_->Rewind();
  if (!s.ok()) return s;
  ScopedFd parent_fd;
  std::string parent_rel = "\x01";  // no path equals this: forces the first open
  SpoolRecord r;
  Status read_status;
  while (spool_->Next(&r, &read_status)) {
    if (Stopping()) return Status::Ok();
    if (r.kind == SpoolRecord::Kind::kRestoreDirTimes) {
      if (opt_.dry_run) continue;
      auto fd = io::OpenDirBeneath(dest_root_fd_, r.rel_path);
      if (!fd.ok()) { Warn(fd.status().message()); continue; }
      ScopedFd dir(*fd);
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
        Fail(std::move(op), fd.status());
        continue;
      }
      parent_fd.reset(*fd);
      parent_rel = parent;
    }
    s = io::RemoveEntry(parent_fd.get(), name, r.is_dir, r.rel_path);
    if (!s.ok()) {
      Fail(std::move(op), s);
      continue;
    }
    Record(std::move(op));
  }
  return read_status;
}

Engine::Engine(EngineOptions options, OpSink* sink, const RunLock* lock,
               const std::atomic<bool>* stop)
    : impl_(new Impl(std::move(options), sink, lock, stop)) {}
Engine::~Engine() { delete impl_; }
EngineResult Engine::Run() { return impl_->Run(); }
const Progress& Engine::progress() const { return impl_->progress_; }

Status CheckRoots(const EngineOptions& options) {
  std::vector<Entry> src_entries, dest_entries;
  auto src = io::OpenRoot(options.src_root);
  if (!src.ok()) return src.status();
  ScopedFd src_fd(*src);
  auto dest = io::OpenRoot(options.dest_root);
  if (!dest.ok()) return dest.status();
  ScopedFd dest_fd(*dest);
  if (!options.plan.delete_missing) return Status::Ok();
  Status s = io::ListDirectory(src_fd.get(), options.src_root, &src_entries);
  if (!s.ok()) return s;
  s = io::ListDirectory(dest_fd.get(), options.dest_root, &dest_entries);
  if (!s.ok()) return s;
  auto real = [](const std::vector<Entry>& v) {
    size_t n = 0;
    for (const Entry& e : v) n += io::IsSyncTempName(e.name) ? 0 : 1;
    return n;
  };
  if (real(src_entries) == 0 && real(dest_entries) > 0) {
    return Status::Error("refusing to run: source '" + EscapeForDisplay(options.src_root) +
                         "' is empty while destination '" + EscapeForDisplay(options.dest_root) +
                         "' is not, and --delete-missing is set (is the source mounted?)");
  }
  return Status::Ok();
}

}  // namespace ha_sync::pipeline
