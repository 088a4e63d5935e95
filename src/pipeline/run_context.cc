#include "pipeline/run_context.h"

#include "ha_sync/text.h"

#include <algorithm>
#include <cerrno>

#include "ha_sync/join_rel.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/plan_apply.h"

namespace ha_sync::pipeline {

namespace {

thread_local PendingWork* t_pending_work = nullptr;

}  // namespace

void RunContext::SetStage(Stage stage) {
  const auto now = std::chrono::steady_clock::now();
  double& left = stage_seconds_[static_cast<int>(stage_)];
  left = std::max(left, 0.0) + std::chrono::duration<double>(now - stage_since_).count();
  double& entered = stage_seconds_[static_cast<int>(stage)];
  entered = std::max(entered, 0.0);
  stage_ = stage;
  stage_since_ = now;
  progress.stage_started_ms.store(NowMs());
  progress.stage.store(static_cast<int>(stage));
}

std::array<double, kStageCount> RunContext::StageSeconds() const { return stage_seconds_; }

void RunContext::AddPending(OpKind kind, int64_t n, int64_t bytes) {
  std::lock_guard<std::mutex> lock(progress.ops_mu);
  progress.pending[static_cast<int>(kind)].fetch_add(n, std::memory_order_relaxed);
  progress.bytes_pending.fetch_add(bytes, std::memory_order_relaxed);
}

void RunContext::Record(OpRecord op) {
  if (!op.ended_at_ms) op.ended_at_ms = NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_.Add(op);
  }
  {
    std::lock_guard<std::mutex> lock(progress.ops_mu);
    PendingWork* work = t_pending_work;
    if (work != nullptr && !work->settled && work->kind == op.operation) {
      progress.pending[static_cast<int>(work->kind)].fetch_sub(1, std::memory_order_relaxed);
      progress.bytes_pending.fetch_sub(work->bytes, std::memory_order_relaxed);
      work->settled = true;
    }
    progress.ops_done.fetch_add(1, std::memory_order_relaxed);
    progress.bytes_done.fetch_add(op.bytes_transferred, std::memory_order_relaxed);
    (op.status == OpStatus::kFail ? progress.failed : progress.done)[static_cast<int>(op.operation)]
        .fetch_add(1, std::memory_order_relaxed);
  }
  sink->OnOperation(op);
}

void RunContext::Fail(OpRecord op, const Status& status) {
  op.status = OpStatus::kFail;
  op.error_message = status.message();
  Record(std::move(op));
}

Status RunContext::NotTheOtherRoot(int dir_fd, bool on_dest, const std::string& rel) const {
  const std::optional<io::FileIdentity>& other = on_dest ? src_root_id : dest_root_id;
  io::FileIdentity id;
  if (!other || dir_fd < 0 || !io::IdentityOf(dir_fd, &id) || !(id == *other)) return Status::Ok();
  return Status::Error("refusing: '" + EscapeForDisplay(rel) + "' in " + (on_dest ? "--dest is --src" : "--src is --dest") +
                           " itself (a bind mount or a second mount of it): " +
                           (on_dest ? "deletes there would remove the source" : "the run would copy dest into itself") +
                           "; the walk ends there and nothing is deleted",
                       ELOOP);
}

void RunContext::CountSkipped() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_.skipped;
}

OpRecord RunContext::NewOp(OpKind kind, std::string path) const {
  OpRecord op;
  op.operation = kind;
  op.filepath = std::move(path);
  op.started_at_ms = NowMs();
  op.dry_run = opt.dry_run;
  return op;
}

void RunContext::KeepOldState(const std::string& dir, const std::string& name,
                              const StateEntry* old) {
  if (state_writer) state_writer->Override(dir, name, old);
}

void RunContext::Remember(OpKind op, const std::string& path, io::FileType type, int64_t size,
                          int64_t mtime_ns, std::optional<std::string> previous) {
  if (!manifest) return;
  Status s = manifest->Append({op, path, type, size, mtime_ns, std::move(previous)});
  if (!s.ok()) Warn("undo manifest: " + s.message());
}

RunCounts RunContext::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

void RunContext::NotePlanned(OpKind op, const std::string& rel, const io::Entry* src,
                             const io::Entry* dest) {
  if (!plan_out) return;
  PlanOp p;
  p.op = op;
  p.path = rel;
  if (src != nullptr) p.src = PlanSide::Of(*src);
  if (dest != nullptr) p.dest = PlanSide::Of(*dest);
  // A plan that lacks an operation is refused by `apply` as incomplete:
  // the commit fails with the first append that did.
  (void)plan_out->Append(p);
}

const PlanOp* RunContext::Planned(OpKind op, const std::string& rel) const {
  return opt.apply_plan ? opt.apply_plan->Find(rel, op) : nullptr;
}

bool RunContext::StillAsPlanned(OpKind op, const std::string& dir, const std::string& name,
                                int src_dir_fd, int dest_dir_fd) {
  const std::string rel = JoinRel(dir, name);
  const PlanOp* planned = Planned(op, rel);
  if (planned == nullptr) return false;
  std::optional<io::Entry> src, dest;
  Status s = StatNow(src_dir_fd, name, dir, &src);
  if (s.ok()) s = StatNow(dest_dir_fd, name, dir, &dest);
  if (!s.ok()) {
    Stale(op, rel, "cannot check: " + s.message());
    return false;
  }
  const std::string why = ChangedPrecondition(*planned, src ? &*src : nullptr, dest ? &*dest : nullptr);
  if (why.empty()) return true;
  Stale(op, rel, why);
  return false;
}

bool RunContext::StillAsPlannedAt(OpKind op, const std::string& rel) {
  std::string dir, name;
  SplitRel(rel, &dir, &name);
  io::UniqueFd fds[2];
  const int roots[2] = {src_root_fd, dest_root_fd};
  for (int i = 0; i < 2; ++i) {
    auto fd = io::OpenDirBeneath(roots[i], dir);
    if (fd.ok()) {
      fds[i].reset(*fd);
    } else if (fd.status().err() != ENOENT && fd.status().err() != ENOTDIR) {
      if (Planned(op, rel) != nullptr) Stale(op, rel, "cannot check: " + fd.status().message());
      return false;
    }
  }
  return StillAsPlanned(op, dir, name, fds[0].get(), fds[1].get());
}

void RunContext::Stale(OpKind op, const std::string& rel, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_.skipped;
    ++counts_.stale;
  }
  sink->OnStale(op, rel, why);
}

RunContext::WorkScope::WorkScope(RunContext* ctx, OpKind kind, int64_t bytes)
    : ctx_(ctx), work_{kind, bytes}, outer_(t_pending_work) {
  t_pending_work = &work_;
}

RunContext::WorkScope::~WorkScope() {
  t_pending_work = outer_;
  if (!work_.settled) ctx_->AddPending(work_.kind, -1, -work_.bytes);
}

}  // namespace ha_sync::pipeline
