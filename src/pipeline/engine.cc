#include "pipeline/engine.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "ha_sync/text.h"
#include "io/file_ops.h"
#include "io/unique_fd.h"
#include "pipeline/clock_probe.h"
#include "pipeline/copier_factory.h"
#include "pipeline/delete_runner.h"
#include "pipeline/file_executor.h"
#include "pipeline/run_context.h"
#include "pipeline/walker.h"

namespace ha_sync::pipeline {

class Engine::Impl {
 public:
  Impl(EngineOptions options, OpSink* sink, const RunLock* lock, const std::atomic<bool>* stop)
      : ctx_(std::move(options), sink), lock_(lock), stop_(stop), deletes_(ctx_) {}

  EngineResult Run();
  const Progress& progress() const { return ctx_.progress; }

 private:
  // Widens the mtime window by dest's clock (clock_probe.h).
  void ProbeClock(EngineResult* result);
  // The sync state to plan with and the one to write. A missing old state
  // is a warning; an error (the run refused) when the old state cannot be
  // read, when --delete-missing would run without a state while another
  // shard layout kept one, or when the new state cannot be started.
  Status OpenState();
  Status RefusedForState(const std::string& why);
  void OpenTrash();
  // Dry-run with opt.plan_out_path: starts the plan file (plan_file.h).
  Status OpenPlanFile();
  // One or two passes (walk with copies, then deletes); the run's fatal status.
  Status RunPasses(io::FileCopier& copier);
  Status RunPass(io::FileCopier& copier, bool* needs_second_pass);
  // Commits the state of a clean run; expires old trash and manifests.
  void Finish(const Status& fatal);
  void RemoveExpiredManifests();
  // Polls, every 20 ms until the run is done, for a stop signal or a lost
  // lock, and aborts the run (ctx_.aborted) on either. The end of the run
  // wakes it, so no run waits out a poll interval at its end.
  void Monitor();
  void StopMonitor();

  RunContext ctx_;
  const RunLock* const lock_;
  const std::atomic<bool>* const stop_;
  DeleteRunner deletes_;
  std::mutex monitor_mu_;
  std::condition_variable monitor_cv_;
  bool done_ = false;  // guarded by monitor_mu_
};

EngineResult Engine::Impl::Run() {
  EngineResult result;
  const EngineOptions& opt = ctx_.opt;
  auto src = io::OpenRoot(opt.src_root);
  if (!src.ok()) { result.fatal = src.status(); return result; }
  io::UniqueFd src_root(*src);
  auto dest = io::OpenRoot(opt.dest_root);
  if (!dest.ok()) { result.fatal = dest.status(); return result; }
  io::UniqueFd dest_root(*dest);
  ctx_.src_root_fd = src_root.get();
  ctx_.dest_root_fd = dest_root.get();
  io::FileIdentity id;
  if (io::IdentityOf(ctx_.src_root_fd, &id)) ctx_.src_root_id = id;
  if (io::IdentityOf(ctx_.dest_root_fd, &id)) ctx_.dest_root_id = id;

  const int64_t started_ms = opt.started_at_ms != 0 ? opt.started_at_ms : NowMs();
  ctx_.stamp = Trash::Stamp(started_ms);
  ctx_.plan = opt.plan;
  ctx_.plan.now_ns = started_ms * 1000000;
  if (opt.probe_clocks && !opt.dry_run) {
    ctx_.SetStage(Stage::kProbing);
    ProbeClock(&result);
  }
  result.window_ns = ctx_.plan.threshold_ns;
  if (Status s = OpenState(); !s.ok()) { result.fatal = s; return result; }
  result.had_state = ctx_.state_reader != nullptr;
  OpenTrash();
  if (Status s = OpenPlanFile(); !s.ok()) { result.fatal = s; return result; }
  auto copier = MakeCopier(opt, ctx_.src_root_fd, ctx_.dest_root_fd);
  if (!copier.ok()) { result.fatal = copier.status(); return result; }

  std::thread monitor([this] { Monitor(); });
  const Status fatal = RunPasses(**copier);
  StopMonitor();
  monitor.join();
  ctx_.SetStage(Stage::kFinishing);
  Finish(fatal);
  ctx_.SetStage(Stage::kDone);
  result.stage_seconds = ctx_.StageSeconds();

  result.fatal = fatal;
  result.settling = ctx_.settling.load();
  result.deletes_disabled = deletes_.disabled();
  result.planned_conflicts = ctx_.planned_conflicts.load();
  result.counts = ctx_.counts();
  return result;
}

void Engine::Impl::ProbeClock(EngineResult* result) {
  const ClockStep step = ProbeDestClock(ctx_.dest_root_fd, ctx_.opt.run_id, ctx_.opt.dest_root,
                                        ctx_.plan.threshold_ns, ctx_.opt.clock_skew_warn_ns);
  ctx_.plan.threshold_ns = step.window_ns;
  if (step.skew_ns) {
    result->clock_skew_ns = step.skew_ns;
    ctx_.progress.clock_skew_ns.store(*step.skew_ns);
  }
  result->mtime_precision_ns = step.precision_ns;
  if (!step.warning.empty()) ctx_.Warn(step.warning);
}

Status Engine::Impl::RefusedForState(const std::string& why) {
  return Status::Error("refusing to run pair '" + ctx_.opt.pair + "': " + why + "; nothing was touched");
}

Status Engine::Impl::OpenState() {
  const EngineOptions& opt = ctx_.opt;
  if (opt.state_path.empty()) return Status::Ok();
  auto reader = StateReader::Open(opt.state_path);
  if (reader.ok() && *reader == nullptr && !opt.state_fallback_path.empty()) {
    reader = StateReader::Open(opt.state_fallback_path);
  }
  // A state that exists but cannot be read is not "no state": planning
  // without it would take every file new on dest for one deleted on src.
  if (!reader.ok()) return RefusedForState(reader.status().message());
  ctx_.state_reader = std::move(*reader);
  if (!ctx_.state_reader && opt.plan.delete_missing && !opt.other_layout_state_paths.empty()) {
    return RefusedForState(
        "--delete-missing: this pair's sync state was kept by runs with another --shard count ('" +
        EscapeForDisplay(opt.other_layout_state_paths.front()) +
        "'), there is none for this one yet, and without it every file new on dest would be deleted; "
        "run once without --delete-missing to record it");
  }
  // Without deletes the plain rules lose nothing; with them, say so.
  if (!ctx_.state_reader && opt.plan.delete_missing) {
    ctx_.Warn("no sync state for this pair yet (first run or state lost): plain newest-wins rules, "
              "and --delete-missing deletes every dest entry missing in src");
  }
  if (opt.dry_run) return Status::Ok();
  auto writer = StateWriter::Create(opt.state_path);
  if (!writer.ok()) return writer.status();
  ctx_.state_writer = std::move(*writer);
  return Status::Ok();
}

void Engine::Impl::OpenTrash() {
  const EngineOptions& opt = ctx_.opt;
  if (opt.dry_run || opt.trash_retain_days <= 0) return;
  ctx_.trash = std::make_unique<Trash>(ctx_.dest_root_fd, ctx_.stamp + "-" + opt.run_id);
  if (!opt.undo_dir.empty()) {
    ctx_.manifest = std::make_unique<UndoManifest>(opt.undo_dir, ctx_.trash->run_dir_name(), opt.dest_root);
  }
}

Status Engine::Impl::OpenPlanFile() {
  const EngineOptions& opt = ctx_.opt;
  if (!opt.dry_run || opt.plan_out_path.empty()) return Status::Ok();
  PlanHeader h;
  h.run_id = opt.run_id;
  h.pair = opt.pair;
  h.direction = opt.direction;
  h.src = opt.src_root;
  h.dest = opt.dest_root;
  h.delete_missing = opt.plan.delete_missing;
  h.created_at_ms = NowMs();
  auto writer = PlanWriter::Create(opt.plan_out_path, h);
  if (!writer.ok()) return writer.status();
  ctx_.plan_out = std::move(*writer);
  return Status::Ok();
}

Status Engine::Impl::RunPasses(io::FileCopier& copier) {
  Status fatal;
  for (int pass = 0; pass < 2 && fatal.ok(); ++pass) {
    ctx_.pass = pass;
    bool needs_second_pass = false;
    fatal = RunPass(copier, &needs_second_pass);
    // A type replacement deleted dest entries; the second pass creates them
    // from src (in dry-run the first pass already planned the creates).
    if (!needs_second_pass || ctx_.opt.dry_run) break;
  }
  return fatal;
}

Status Engine::Impl::RunPass(io::FileCopier& copier, bool* needs_second_pass) {
  if (Status s = deletes_.BeginPass(); !s.ok()) return s;
  FileExecutor files(ctx_, copier);
  Walker walker(ctx_, files, deletes_);
  ctx_.SetStage(Stage::kScanning);
  Status fatal = walker.Walk();
  *needs_second_pass = walker.needs_second_pass();
  ctx_.SetStage(Stage::kCopying);
  files.Drain();
  if (fatal.ok() && ctx_.Stopping()) fatal = Status::Error(ctx_.abort_reason);
  if (fatal.ok()) {
    ctx_.SetStage(Stage::kDeleting);
    fatal = deletes_.Run();
  }
  deletes_.EndPass();
  if (fatal.ok() && ctx_.Stopping()) fatal = Status::Error(ctx_.abort_reason);
  return fatal;
}

void Engine::Impl::Finish(const Status& fatal) {
  if (ctx_.state_writer && fatal.ok() && ctx_.scan_errors.load() == 0) {
    Status s = ctx_.state_writer->Commit();
    if (!s.ok()) ctx_.Warn("sync state not saved: " + s.message());
  } else if (ctx_.state_writer) {
    ctx_.Warn("sync state not updated (the run did not complete cleanly); the previous state stays");
  }
  if (ctx_.plan_out && fatal.ok()) {
    // A dry-run that did not finish leaves no plan: it could not be applied whole.
    Status s = ctx_.plan_out->Commit();
    if (!s.ok()) ctx_.Warn("plan file not kept (this dry-run cannot be applied): " + s.message());
  }
  ctx_.plan_out.reset();
  // Expiry is housekeeping of a run that went through: a refused or failed
  // run touches nothing more, and --trash-retain-days 0 only stops keeping
  // this run's versions (the trash of earlier runs, which their undo needs,
  // waits for a run that keeps a trash).
  if (ctx_.opt.dry_run || !ctx_.opt.expire_trash || !fatal.ok() || ctx_.opt.trash_retain_days <= 0) return;
  auto removed = Trash::RemoveExpired(ctx_.dest_root_fd, ctx_.opt.trash_retain_days, NowMs());
  if (!removed.ok()) ctx_.Warn("trash cleanup: " + removed.status().message());
  RemoveExpiredManifests();
}

void Engine::Impl::RemoveExpiredManifests() {
  const EngineOptions& opt = ctx_.opt;
  if (opt.undo_dir.empty()) return;
  io::UniqueFd dir(::open(opt.undo_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return;  // no run of this pair kept one yet
  // A manifest is of use only while its trash is kept.
  const int64_t days = std::max<int64_t>(opt.trash_retain_days, 1);
  auto removed = Trash::RemoveExpiredIn(dir.get(), opt.undo_dir, days, NowMs());
  if (!removed.ok()) ctx_.Warn("undo manifest cleanup: " + removed.status().message());
}

void Engine::Impl::StopMonitor() {
  {
    std::lock_guard<std::mutex> lock(monitor_mu_);
    done_ = true;
  }
  monitor_cv_.notify_all();
}

void Engine::Impl::Monitor() {
  std::unique_lock<std::mutex> lock(monitor_mu_);
  while (!done_) {
    if (!ctx_.aborted.load()) {
      if (stop_ != nullptr && stop_->load()) {
        ctx_.abort_reason = "interrupted by a signal; stopped before finishing";
        ctx_.aborted.store(true);
      } else if (lock_ != nullptr && !ctx_.opt.dry_run && !lock_->MayStillWrite()) {
        ctx_.abort_reason = "lock lost: " + lock_->LostReason() + "; writes stopped (fencing)";
        ctx_.aborted.store(true);
      }
    }
    monitor_cv_.wait_for(lock, std::chrono::milliseconds(20), [this] { return done_; });
  }
}

Engine::Engine(EngineOptions options, OpSink* sink, const RunLock* lock,
               const std::atomic<bool>* stop)
    : impl_(std::make_unique<Impl>(std::move(options), sink, lock, stop)) {}
Engine::~Engine() = default;
EngineResult Engine::Run() { return impl_->Run(); }
const Progress& Engine::progress() const { return impl_->progress(); }

}  // namespace ha_sync::pipeline
