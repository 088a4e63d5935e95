#include "pipeline/run_context.h"

namespace ha_sync::pipeline {

namespace {

thread_local PendingWork* t_pending_work = nullptr;

}  // namespace

void RunContext::SetStage(Stage stage) {
  progress.stage_started_ms.store(NowMs());
  progress.stage.store(static_cast<int>(stage));
}

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

RunContext::WorkScope::WorkScope(RunContext* ctx, OpKind kind, int64_t bytes)
    : ctx_(ctx), work_{kind, bytes}, outer_(t_pending_work) {
  t_pending_work = &work_;
}

RunContext::WorkScope::~WorkScope() {
  t_pending_work = outer_;
  if (!work_.settled) ctx_->AddPending(work_.kind, -1, -work_.bytes);
}

}  // namespace ha_sync::pipeline
