#include "cli/run.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "audit/audit_run.h"
#include "audit/retention.h"
#include "ha_sync/text.h"
#include "ha_sync/unique_fd.h"
#include "cli/lock_select.h"
#include "cli/plan_compare.h"
#include "cli/shard_run.h"
#include "http/live_status.h"
#include "io/file_ops.h"
#include "io/uring_probe.h"
#include "pipeline/engine.h"
#include "pipeline/plan_file.h"
#include "pipeline/root_guard.h"
#include "pipeline/sync_state.h"
#include "pipeline/temp_tags.h"
#include "pipeline/undo_manifest.h"

namespace ha_sync::cli {

namespace {

std::string NewRunId() {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(io::RandomU64()),
                static_cast<unsigned long long>(io::RandomU64()));
  return buf;
}

Status MakeDirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno(errno, "create log directory", partial);
    }
  }
  return Status::Ok();
}

// The path of `path` relative to `root` when it lies strictly inside it
// (both resolved), "." when both are the same directory, else "".
std::string PathInside(const std::string& path, const std::string& root) {
  char a[PATH_MAX], b[PATH_MAX];
  if (::realpath(path.c_str(), a) == nullptr || ::realpath(root.c_str(), b) == nullptr) return "";
  if (std::string(a) == b) return ".";
  const std::string p = a, r = std::string(b) == "/" ? "" : b;
  if (p.size() <= r.size() + 1 || p.compare(0, r.size(), r) != 0 || p[r.size()] != '/') return "";
  return p.substr(r.size() + 1);
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// A conflict in a dry-run's plan: recorded as the failed update the real
// run will record (its reason, from src/pipeline/planner.cc, starts with
// "conflict:"); the dry-run itself did not fail on it.
bool IsPlannedConflict(const OpRecord& op) {
  return op.dry_run && op.status == OpStatus::kFail && op.operation == OpKind::kUpdate &&
         op.error_message && op.error_message->rfind("conflict:", 0) == 0;
}

// The audit stage's single writer: every operation goes to the opslog
// (one write per line, before anything else sees it), then to the terminal.
class RunSink : public pipeline::OpSink {
 public:
  RunSink(audit::OpslogWriter* opslog, const Options& options, std::atomic<bool>* stop)
      : opslog_(opslog), options_(options), stop_(stop) {}

  void OnIntent(const OpRecord& op) override {
    if (Status s = opslog_->AppendIntent(op); !s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (audit_error_.empty()) audit_error_ = "cannot write the opslog: " + s.message();
      stop_->store(true);
    }
  }

  void OnOperation(const OpRecord& op) override {
    Status s = opslog_->AppendOp(op);
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.ok() && audit_error_.empty()) {
      // An operation without its record must not go on: stop the run.
      audit_error_ = "cannot write the opslog: " + s.message();
      stop_->store(true);
    }
    ClearProgressLocked();
    const std::string path = EscapeForDisplay(op.filepath);
    const char* error = op.error_message ? op.error_message->c_str() : "";
    if (op.status == OpStatus::kFail && options_.dry_run && IsPlannedConflict(op)) {
      // Part of the plan: the real run will leave it and record it as failed.
      std::printf("would %-6s %12s  %s  (%s)\n", "fail",
                  op.size_before ? std::to_string(*op.size_before).c_str() : "-", path.c_str(), error);
    } else if (op.status == OpStatus::kFail) {
      std::fprintf(stderr, "ha-sync: %s%s '%s' failed: %s\n", options_.dry_run ? "(dry-run) " : "",
                   ToString(op.operation), path.c_str(), error);
    } else if (options_.dry_run) {
      std::printf("would %-6s %12s  %s\n", ToString(op.operation),
                  op.size_after ? std::to_string(*op.size_after).c_str()
                                : (op.size_before ? std::to_string(*op.size_before).c_str() : "-"),
                  path.c_str());
    } else if (options_.verbose) {
      std::printf("%-6s %12s  %s\n", ToString(op.operation),
                  op.size_after ? std::to_string(*op.size_after).c_str() : "-", path.c_str());
    }
  }

  void OnStale(OpKind op, const std::string& path, const std::string& reason) override {
    Status s = opslog_->AppendStale({op, path, reason});
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.ok() && audit_error_.empty()) {
      audit_error_ = "cannot write the opslog: " + s.message();
      stop_->store(true);
    }
    ClearProgressLocked();
    std::printf("stale: %s: %s (%s planned; left as it is)\n", EscapeForDisplay(path).c_str(),
                reason.c_str(), ToString(op));
  }

  void OnWarning(const std::string& message) override {
    std::lock_guard<std::mutex> lock(mu_);
    ClearProgressLocked();
    std::fprintf(stderr, "ha-sync: warning: %s\n", message.c_str());
  }

  void ShowProgress(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    progress_shown_ = true;
  }
  void ClearProgress() {
    std::lock_guard<std::mutex> lock(mu_);
    ClearProgressLocked();
  }
  std::string audit_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return audit_error_;
  }

 private:
  void ClearProgressLocked() {
    if (progress_shown_) {
      std::fprintf(stderr, "\r\033[K");
      progress_shown_ = false;
    }
    std::fflush(stdout);
  }

  audit::OpslogWriter* opslog_;
  const Options& options_;
  std::atomic<bool>* stop_;
  std::mutex mu_;
  bool progress_shown_ = false;
  std::string audit_error_;
};

// --status-addr: the live status page of this run, for as long as the
// engine runs. A port that cannot be bound costs a warning, not the sync.
std::unique_ptr<http::LiveStatusServer> StartStatusServer(const Options& options,
                                                          const RunHeader& header,
                                                          const pipeline::Engine& engine) {
  if (options.status_addr.empty()) return nullptr;
  auto addr = http::ParseListenAddress(options.status_addr);
  if (!addr.ok()) return nullptr;  // validated with the options
  auto server = http::LiveStatusServer::Start(*addr, header, &engine.progress());
  if (!server.ok()) {
    std::fprintf(stderr, "ha-sync: warning: no live status: %s\n", server.status().message().c_str());
    return nullptr;
  }
  const bool v6 = addr->host.find(':') != std::string::npos;
  std::fprintf(stderr, "ha-sync: live status on http://%s%s%s:%u/status\n", v6 ? "[" : "",
               addr->host.c_str(), v6 ? "]" : "", (*server)->port());
  return std::move(*server);
}

// Before any temp file exists: registers the tag that proves this run's
// temp files are ours to a later run, and reads the pair's earlier tags
// (pipeline/temp_tags.h). Call with the pair's lock held.
Status PrepareTempTags(const Options& options, pipeline::EngineOptions* eo) {
  if (!options.dry_run) {
    auto tag = pipeline::RegisterTempTag(TempTagsPathFor(options));
    if (!tag.ok()) return tag.status();
    eo->temp_tag = *tag;
  }
  for (const std::string& path : TempTagsReadable(options)) {
    auto tags = pipeline::LoadTempTags(path);
    if (!tags.ok()) {
      std::fprintf(stderr, "ha-sync: warning: %s; no temp file will be removed\n", tags.status().message().c_str());
      eo->own_temp_tags.clear();
      return Status::Ok();
    }
    eo->own_temp_tags.insert(eo->own_temp_tags.end(), tags->begin(), tags->end());
  }
  std::sort(eo->own_temp_tags.begin(), eo->own_temp_tags.end());
  return Status::Ok();
}

// An unchanged dry-run writes no rows: the stored dry-run stays the plan,
// and this run's plan file (the same operations, with today's
// preconditions) replaces that plan's file, so applying it checks against
// the trees as they are now.
void KeepPlanOfCurrentDryRun(const Options& options, const std::string& run_id,
                             const std::string& kept_run_id) {
  const std::string fresh = pipeline::PlanFilePath(options.log_dir, options.pair, run_id);
  if (kept_run_id.empty() || ::access(fresh.c_str(), F_OK) != 0) return;
  const std::string kept = pipeline::PlanFilePath(options.log_dir, options.pair, kept_run_id);
  if (::rename(fresh.c_str(), kept.c_str()) != 0) {
    std::fprintf(stderr, "ha-sync: warning: %s\n",
                 Status::FromErrno(errno, "refresh plan file", kept).message().c_str());
  }
}

// The steps of RunSync, in the order it calls them. A step that can end
// the run returns the exit code to end it with (its message printed), or
// nullopt to go on.
using EndWith = std::optional<int>;

// The engine's settings from the options and the environment's test seams;
// ends the run when --io-engine=uring was asked for and io_uring is not usable.
EndWith EngineOptionsFor(const Options& options, const EnvLookup& env, const ApplyRequest* apply,
                         pipeline::EngineOptions* eo) {
  if (apply != nullptr) eo->apply_plan = apply->plan;
  eo->src_root = options.src;
  eo->dest_root = options.dest;
  eo->plan.threshold_ns = static_cast<int64_t>(options.mtime_threshold_seconds * 1e9);
  eo->plan.delete_missing = options.delete_missing;
  eo->dry_run = options.dry_run;
  eo->workers = static_cast<size_t>(EffectiveWorkers(options));
  eo->network_roots = RootsOnNetwork(options);
  eo->block_size = static_cast<size_t>(options.block_size);
  eo->fsync = options.fsync;
  eo->max_delete_count = options.max_delete_count;
  eo->max_delete_percent = options.max_delete_percent;
  eo->max_vanished_percent = options.max_vanished_percent;
  eo->pair = options.pair;
  eo->direction = options.direction;
  eo->plan.min_age_ns = static_cast<int64_t>(options.min_age_seconds * 1e9);
  eo->trash_retain_days = options.trash_retain_days;
  eo->clock_skew_warn_ns = static_cast<int64_t>(options.clock_skew_warn_seconds * 1e9);
  eo->state_path = pipeline::StatePath(options.log_dir, options.pair);
  eo->undo_dir = pipeline::UndoManifest::Dir(options.log_dir, options.pair);
  eo->excluded = options.excluded;
  ApplyShard(options, eo);  // after state_path and max_delete_count: a shard's own
  if (const char* delay = Getenv(env, "HA_SYNC_TEST_BLOCK_DELAY_MS")) eo->test_block_delay_ms = std::atoi(delay);
  if (const char* tmp = Getenv(env, "TMPDIR")) eo->temp_dir = tmp;
  eo->queue_depth = static_cast<size_t>(options.queue_depth);
  eo->copy_file_range = !options.no_copy_file_range;
  if (options.io_engine != "threads") {
    const io::UringSupport uring = io::ProbeUring();
    eo->io_uring = uring.usable;
    if (!uring.usable && options.io_engine == "uring") {
      std::fprintf(stderr, "ha-sync: --io-engine=uring: %s\n", uring.status.message().c_str());
      return kExitFailed;
    }
    if (!uring.usable) {
      std::fprintf(stderr, "ha-sync: warning: io_uring not usable, copying with threads: %s\n",
                   uring.status.message().c_str());
    }
  }
  return std::nullopt;
}

// Both roots open, and hold --require-marker as a regular file (a symlink,
// perhaps dangling, or a directory of that name says nothing about the
// share being mounted). Checked first: a missing mount is reported before
// anything is created.
EndWith CheckRootsMounted(const Options& options) {
  for (const std::string* root : {&options.src, &options.dest}) {
    auto fd = io::OpenRoot(*root);
    if (!fd.ok()) {
      std::fprintf(stderr, "ha-sync: %s\n", fd.status().message().c_str());
      return kExitFailed;
    }
    const UniqueFd root_fd(*fd);
    struct stat marker;
    const bool found = options.require_marker.empty() ||
                       ::fstatat(root_fd.get(), options.require_marker.c_str(), &marker, AT_SYMLINK_NOFOLLOW) == 0;
    if (!options.require_marker.empty() && (!found || !S_ISREG(marker.st_mode))) {
      std::fprintf(stderr, "ha-sync: refusing to run: marker '%s' is %s in '%s' (is the share mounted?)\n",
                   options.require_marker.c_str(), found ? "not a regular file" : "missing", root->c_str());
      return kExitFailed;
    }
  }
  return std::nullopt;
}

// --log-dir exists (made when missing) and is writable. One inside a root
// (e.g. the logs export within a synced share) is ha-sync's own: excluded
// from the sync, never deleted; the root itself is refused.
EndWith PrepareLogDir(const Options& options, pipeline::EngineOptions* eo) {
  Status s = MakeDirs(options.log_dir);
  if (s.ok() && ::access(options.log_dir.c_str(), W_OK) != 0) {
    s = Status::FromErrno(errno, "log directory is not writable:", options.log_dir);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "ha-sync: %s\n", s.message().c_str());
    return kExitFailed;
  }
  for (const std::string* root : {&options.src, &options.dest}) {
    const std::string inside = PathInside(options.log_dir, *root);
    if (inside == ".") {
      // Its lock, database and state would be synced or deleted as content.
      std::fprintf(stderr, "ha-sync: --log-dir '%s' is the root '%s' itself; give a directory outside "
                           "the roots, or one inside a root\n",
                   options.log_dir.c_str(), root->c_str());
      return kExitUsage;
    }
    if (!inside.empty()) eo->excluded.push_back(inside);
  }
  return std::nullopt;
}

RunHeader HeaderFor(const Options& options, const ApplyRequest* apply) {
  RunHeader header;
  header.run_id = NewRunId();
  header.pair = options.pair;
  header.direction = options.direction;
  header.src = options.src;
  header.dest = options.dest;
  header.dry_run = options.dry_run;
  if (apply != nullptr) header.plan_id = apply->plan_id;
  ApplyShard(options, &header);
  return header;
}

// Releases the pair's lock when RunSync returns, whichever return it is:
// a Lease left behind would keep the pair's next runs out until its TTL
// ran out. Release() is the end of a run that got that far, reporting a
// failure; the destructor is every earlier return.
class ReleaseOnReturn {
 public:
  explicit ReleaseOnReturn(RunLock* lock) : lock_(lock) {}
  ~ReleaseOnReturn() {
    if (lock_ != nullptr) (void)lock_->Release();
  }
  ReleaseOnReturn(const ReleaseOnReturn&) = delete;
  ReleaseOnReturn& operator=(const ReleaseOnReturn&) = delete;

  void Release() {
    RunLock* lock = std::exchange(lock_, nullptr);
    if (Status s = lock->Release(); !s.ok()) std::fprintf(stderr, "ha-sync: warning: %s\n", s.message().c_str());
  }

 private:
  RunLock* lock_;
};

// Takes the pair's lock (lock_select.h). Held by another run: exit 0,
// nothing done.
EndWith TakeLock(const Options& options, const std::string& run_id, std::atomic<bool>* stop,
                 const EnvLookup& env, std::unique_ptr<RunLock>* lock) {
  auto made = MakeRunLock(options, run_id, stop, env);
  if (!made.ok()) {
    std::fprintf(stderr, "ha-sync: cannot take the lock: %s\n", made.status().message().c_str());
    return kExitFailed;
  }
  *lock = std::move(*made);
  const RunLock::AcquireResult acquired = (*lock)->Acquire();
  if (acquired.outcome == RunLock::Outcome::kHeldByOther) {
    std::printf("ha-sync: pair '%s' is locked by another run (%s); nothing done\n",
                options.pair.c_str(), acquired.holder.c_str());
    return kExitOk;
  }
  if (acquired.outcome == RunLock::Outcome::kError) {
    std::fprintf(stderr, "ha-sync: cannot take the lock: %s\n", acquired.status.message().c_str());
    return kExitFailed;
  }
  return std::nullopt;
}

// With the lock held: an apply's checks again (a run may have started
// since they were made), and this run's temp tag.
EndWith PrepareUnderLock(const Options& options, const ApplyRequest* apply, pipeline::EngineOptions* eo) {
  if (apply != nullptr && apply->recheck) {
    if (const std::string refused = apply->recheck(); !refused.empty()) {
      std::fprintf(stderr, "ha-sync apply: %s\n", refused.c_str());
      return kExitFailed;
    }
  }
  if (Status s = PrepareTempTags(options, eo); !s.ok()) {
    std::fprintf(stderr, "ha-sync: %s\n", s.message().c_str());
    return kExitFailed;
  }
  return std::nullopt;
}

// Audit (src/audit/audit_run.h): leftovers, the opslog, the 'running' row.
Result<std::unique_ptr<audit::AuditRun>> BeginAudit(const Options& options, const RunHeader& header) {
  return audit::AuditRun::Begin(
      {options.db_dsn, options.log_dir,
       options.flush_batch_rows},
      header,
      [](const std::string& m) { std::printf("ha-sync: %s\n", m.c_str()); },
      [](const std::string& m) { std::fprintf(stderr, "ha-sync: warning: %s\n", m.c_str()); });
}

// --progress on a terminal: a line on stderr every second while the engine
// runs, until Stop().
class ProgressLine {
 public:
  ProgressLine(bool shown, const pipeline::Engine& engine, RunSink* sink,
               std::chrono::steady_clock::time_point started) {
    if (shown) thread_ = std::thread([this, &engine, sink, started] { Loop(engine, sink, started); });
  }
  ~ProgressLine() { Stop(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop(const pipeline::Engine& engine, RunSink* sink, std::chrono::steady_clock::time_point started) {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, std::chrono::seconds(1), [&] { return done_; })) {
      const auto& p = engine.progress();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      char line[256];
      std::snprintf(line, sizeof line, "scanned %lld dirs, %lld entries; %lld operations, %s copied (%s/s)",
                    static_cast<long long>(p.dirs_scanned.load()),
                    static_cast<long long>(p.entries_scanned.load()),
                    static_cast<long long>(p.ops_done.load()),
                    HumanBytes(static_cast<double>(p.bytes_done.load())).c_str(),
                    HumanBytes(static_cast<double>(p.bytes_done.load()) / secs).c_str());
      sink->ShowProgress(line);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// The engine over both trees (after the unmounted-share guards), with the
// live status page and the progress line while it runs. An opslog write
// that failed makes the run failed.
pipeline::EngineResult RunEngine(const pipeline::EngineOptions& eo, const Options& options,
                                 const RunHeader& header, RunSink* sink, const RunLock* lock,
                                 std::atomic<bool>* stop, std::chrono::steady_clock::time_point started) {
  pipeline::EngineResult result;
  result.fatal = pipeline::CheckRoots(eo);
  if (result.fatal.ok()) {
    pipeline::Engine engine(eo, sink, lock, stop);
    std::unique_ptr<http::LiveStatusServer> status_server = StartStatusServer(options, header, engine);
    ProgressLine progress(options.progress && ::isatty(STDERR_FILENO), engine, sink, started);
    result = engine.Run();
    progress.Stop();
    sink->ClearProgress();
  }
  if (const std::string audit_error = sink->audit_error(); !audit_error.empty()) {
    result.fatal = Status::Error(audit_error);
  }
  return result;
}

RunFooter FooterFor(const pipeline::EngineResult& result) {
  RunFooter footer;
  footer.ended_at_ms = NowMs();
  footer.counts = result.counts;
  footer.clock_skew_ns = result.clock_skew_ns;
  footer.mtime_precision_ns = result.mtime_precision_ns;
  if (!result.fatal.ok()) {
    footer.status = RunStatus::kFailed;
    footer.error_message = result.fatal.message();
  } else if (result.counts.failed > result.planned_conflicts) {
    footer.status = RunStatus::kPartialFailure;
    footer.error_message =
        std::to_string(result.counts.failed - result.planned_conflicts) + " operation(s) failed";
  } else {
    footer.status = RunStatus::kSuccess;
  }
  return footer;
}

// Stores the run (audit_run.h). "Nothing has changed" only when the plan
// file is the kept one's too: the same roots and flags, and both sides as
// they were (plan_compare.h).
audit::AuditRun::Outcome FinishAudit(audit::AuditRun* audit, const RunFooter& footer, const Options& options,
                                     const std::string& run_id) {
  std::fflush(stdout);
  return audit->Finish(footer, [&](const std::string& kept_run_id) {
    auto same = SamePlanFiles(pipeline::PlanFilePath(options.log_dir, options.pair, run_id),
                              pipeline::PlanFilePath(options.log_dir, options.pair, kept_run_id));
    return !kept_run_id.empty() && same.ok() && *same;
  });
}

// --verbose: the seconds of each stage the engine went through (per-phase
// timers: where a slow run spends its time).
void PrintStageTimes(const pipeline::EngineResult& result) {
  std::string line;
  for (int i = 0; i < kStageCount; ++i) {
    const auto stage = static_cast<Stage>(i);
    if (stage == Stage::kDone || result.stage_seconds[i] < 0) continue;
    char part[64];
    std::snprintf(part, sizeof part, "%s%s %.3f s", line.empty() ? "" : ", ", ToString(stage),
                  result.stage_seconds[i]);
    line += part;
  }
  if (!line.empty()) std::printf("ha-sync: stages: %s\n", line.c_str());
}

// The run's closing lines: the summary, how to undo or apply it, what was
// left for later.
void PrintSummary(const Options& options, const RunHeader& header, const pipeline::EngineResult& result,
                  const RunFooter& footer, double seconds, const audit::AuditRun::Outcome& stored,
                  const ApplyRequest* apply) {
  const RunCounts& c = result.counts;
  std::printf(
      "ha-sync: %s %s%s: %s; created %lld, updated %lld, deleted %lld, skipped %lld, failed %lld; "
      "%s in %.2f s (%s/s)\n",
      options.pair.c_str(), options.direction.c_str(), options.dry_run ? " (dry-run)" : "",
      ToString(footer.status), static_cast<long long>(c.created), static_cast<long long>(c.updated),
      static_cast<long long>(c.deleted), static_cast<long long>(c.skipped),
      static_cast<long long>(c.failed), HumanBytes(static_cast<double>(c.bytes_transferred)).c_str(),
      seconds, HumanBytes(seconds > 0 ? static_cast<double>(c.bytes_transferred) / seconds : 0).c_str());
  if (!options.dry_run && options.trash_retain_days > 0 && c.created + c.updated + c.deleted > 0) {
    const bool default_log_dir = options.log_dir == Options().log_dir;
    std::printf("ha-sync: run %s; to revert it: ha-sync undo --dest %s --pair %s --run-id %s%s%s\n",
                header.run_id.c_str(), ShellQuote(options.dest).c_str(), options.pair.c_str(),
                header.run_id.c_str(), default_log_dir ? "" : " --log-dir ",
                default_log_dir ? "" : ShellQuote(options.log_dir).c_str());
  }
  if (options.verbose) PrintStageTimes(result);
  if (result.settling > 0) {
    std::printf("ha-sync: %lld file(s) modified within --min-age left for the next run\n",
                static_cast<long long>(result.settling));
  }
  if (!result.fatal.ok()) std::fprintf(stderr, "ha-sync: run failed: %s\n", result.fatal.message().c_str());
  if (stored.dry_run_current) {
    std::printf("%s\n", audit::AuditRun::AlreadyCurrentMessage(stored.current_as_of_ms).c_str());
    KeepPlanOfCurrentDryRun(options, header.run_id, stored.current_run_id);
  }
  const int64_t plan_id = stored.dry_run_current ? stored.current_id : stored.iteration_id;
  if (options.dry_run && footer.status == RunStatus::kSuccess && plan_id > 0) {
    std::printf("ha-sync: plan %lld; to make exactly these changes: ha-sync apply --plan %lld "
                "<these options without --dry-run>\n",
                static_cast<long long>(plan_id), static_cast<long long>(plan_id));
  }
  if (apply != nullptr) {
    std::printf("ha-sync: applied plan %lld: %lld planned operation(s) skipped as stale\n",
                static_cast<long long>(apply->plan_id), static_cast<long long>(c.stale));
  }
  std::fflush(stdout);
}

// This pair's opslogs and plan files past --log-retain-days, never the
// run's own opslog (a failure is a warning).
void PruneOldLogs(const Options& options, const std::string& own_opslog) {
  auto pruned = audit::RemoveOldOpslogs(options.log_dir, options.pair, own_opslog, options.log_retain_days, NowMs());
  if (!pruned.ok()) std::fprintf(stderr, "ha-sync: warning: %s\n", pruned.status().message().c_str());
  auto plans = pipeline::RemoveOldPlans(options.log_dir, options.pair, options.log_retain_days, NowMs());
  if (!plans.ok()) std::fprintf(stderr, "ha-sync: warning: %s\n", plans.status().message().c_str());
}

int ExitCodeFor(RunStatus status) {
  if (status == RunStatus::kFailed) return kExitFailed;
  if (status == RunStatus::kPartialFailure) return kExitPartial;
  return kExitOk;
}

}  // namespace

int RunSync(const Options& options, std::atomic<bool>* stop, const EnvLookup& env,
            const ApplyRequest* apply) {
  pipeline::EngineOptions eo;
  if (EndWith end = EngineOptionsFor(options, env, apply, &eo)) return *end;
  if (EndWith end = CheckRootsMounted(options)) return *end;
  if (EndWith end = PrepareLogDir(options, &eo)) return *end;
  RunHeader header = HeaderFor(options, apply);

  std::unique_ptr<RunLock> lock;
  if (EndWith end = TakeLock(options, header.run_id, stop, env, &lock)) return *end;
  ReleaseOnReturn release_lock(lock.get());
  if (EndWith end = PrepareUnderLock(options, apply, &eo)) return *end;

  header.started_at_ms = NowMs();
  eo.run_id = header.run_id;
  eo.started_at_ms = header.started_at_ms;
  if (options.dry_run) eo.plan_out_path = pipeline::PlanFilePath(options.log_dir, options.pair, header.run_id);
  auto audit = BeginAudit(options, header);
  if (!audit.ok()) {
    std::fprintf(stderr, "ha-sync: %s\n", audit.status().message().c_str());
    return kExitFailed;
  }
  RunSink sink((*audit)->opslog(), options, stop);

  const auto started = std::chrono::steady_clock::now();
  const pipeline::EngineResult result = RunEngine(eo, options, header, &sink, lock.get(), stop, started);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const RunFooter footer = FooterFor(result);
  const audit::AuditRun::Outcome stored = FinishAudit(audit->get(), footer, options, header.run_id);
  PrintSummary(options, header, result, footer, seconds, stored, apply);
  PruneOldLogs(options, (*audit)->opslog_path());
  release_lock.Release();
  return ExitCodeFor(footer.status);
}

}  // namespace ha_sync::cli
