#include "audit/audit_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "audit/opslog_flush.h"
#include "audit/opslog_reader.h"
#include "ha_sync/text.h"

namespace ha_sync::audit {

std::string AuditRun::AlreadyCurrentMessage(int64_t started_at_ms) {
  return "Dry-run already current as of " + FormatUtcMs(started_at_ms) + ". Nothing has changed.";
}

Result<std::unique_ptr<AuditRun>> AuditRun::Begin(const Config& config, const RunHeader& header,
                                                  Say info, Say warn) {
  std::unique_ptr<AuditRun> run(new AuditRun(config, header, std::move(info), std::move(warn)));
  auto dsn = ParseDsn(config.db_dsn, config.log_dir);
  if (dsn.ok()) {
    run->dsn_ = *dsn;
    run->dsn_ok_ = true;
  } else {
    run->WarnDb(dsn.status().message());
  }
  if (run->Connect()) run->FlushLeftovers();

  auto writer = OpslogWriter::Create(config.log_dir, header);
  if (!writer.ok()) return writer.status();
  run->opslog_ = std::move(*writer);
  run->opslog_path_ = run->opslog_->path();

  if (run->store_ && !header.dry_run) {
    if (Status s = run->store_->InsertRunning(header); !s.ok()) {
      run->WarnDb(s.message());
      run->store_.reset();
    }
  }
  return run;
}

bool AuditRun::Connect() {
  if (store_) return true;
  if (!dsn_ok_) return false;
  auto store = AuditStore::Open(dsn_, config_.flush_batch_rows);
  if (!store.ok()) {
    WarnDb(store.status().message());
    return false;
  }
  store_ = std::move(*store);
  return true;
}

void AuditRun::WarnDb(const std::string& what) {
  if (warned_) return;
  warned_ = true;
  // Messages from the database layer are already scrubbed; scrub again in
  // case a caller added text that carries the DSN.
  warn_("audit database unavailable: " + (dsn_ok_ ? dsn_.Redact(what) : what) +
        "; the opslog is kept in " + config_.log_dir +
        " and the next run of this pair that reaches the database stores it (unless it is older "
        "than --log-retain-days by then)");
}

void AuditRun::FlushLeftovers() {
  auto files = ListPairOpslogs(config_.log_dir, header_.pair);
  if (!files.ok()) {
    warn_(files.status().message());
    return;
  }
  int64_t flushed = 0, crashed = 0, rows = 0;
  leftovers_done_ = true;
  for (const std::string& path : *files) {
    if (path == opslog_path_) continue;  // this run's own (Finish() stores it)
    auto r = FlushOpslog(store_.get(), path);
    if (!r.ok()) {
      WarnDb("storing the leftover opslog " + EscapeForDisplay(path) + ": " + r.status().message());
      // A database failure will fail the next file too; keep them all.
      store_.reset();
      break;
    }
    if (r->outcome == FlushOutcome::kFlushed) {
      ++flushed;
      rows += r->rows;
      if (r->crashed) ++crashed;
    } else if (r->outcome == FlushOutcome::kAlreadyFlushed) {
      ++flushed;
    }
  }
  if (flushed > 0) {
    info_("stored " + std::to_string(flushed) + " leftover opslog(s) of pair '" + header_.pair +
          "' (" + std::to_string(rows) + " operation(s)" +
          (crashed > 0 ? ", " + std::to_string(crashed) + " unfinished run(s) recorded as failed"
                       : std::string()) +
          ")");
  }
}

Result<bool> AuditRun::DryRunIsCurrent(Outcome* outcome, const SamePlanAs& same_plan_as) {
  auto last = store_->LastSuccessfulDryRun(header_.pair, header_.direction, header_.shard_index,
                                           header_.shard_count);
  if (!last.ok()) return last.status();
  if (!last->has_value()) return false;
  auto stored = store_->PlanOf((*last)->id);
  if (!stored.ok()) return stored.status();

  const int fd = ::open(opslog_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open opslog", opslog_path_);
  OpslogReader reader(fd, opslog_path_);
  PlanDigest current;
  OpslogLine line;
  Status status;
  for (;;) {
    auto more = reader.Next(&line);
    if (!more.ok()) {
      status = more.status();
      break;
    }
    if (!*more) break;
    if (const auto* op = std::get_if<OpRecord>(&line)) current.Add(*op);
  }
  ::close(fd);
  if (!status.ok()) return status;
  if (reader.bad_lines() > 0) return false;
  outcome->current_as_of_ms = (*last)->started_at_ms;
  outcome->current_run_id = (*last)->run_id;
  outcome->current_id = (*last)->id;
  if (current != *stored) return false;
  return !same_plan_as || same_plan_as(outcome->current_run_id);
}

AuditRun::Outcome AuditRun::Finish(const RunFooter& footer, const SamePlanAs& same_plan_as) {
  Outcome outcome;
  if (Status s = opslog_->Finish(footer); !s.ok()) {
    // Without its footer the opslog is flushed later as an unfinished run.
    warn_(s.message());
    return outcome;
  }
  if (!Connect()) return outcome;
  // The database was down when the run began: the leftovers go first now.
  if (!leftovers_done_) FlushLeftovers();
  if (!store_) return outcome;
  if (header_.dry_run && footer.status == RunStatus::kSuccess) {
    Outcome matched;
    auto current = DryRunIsCurrent(&matched, same_plan_as);
    if (!current.ok()) {
      WarnDb(current.status().message());
      return outcome;
    }
    if (*current) {
      if (::unlink(opslog_path_.c_str()) != 0) {
        warn_(Status::FromErrno(errno, "delete opslog", opslog_path_).message());
      }
      matched.dry_run_current = true;
      return matched;
    }
  }
  auto r = FlushOpslog(store_.get(), opslog_path_);
  if (!r.ok()) {
    WarnDb("storing this run: " + r.status().message());
    return outcome;
  }
  outcome.stored = r->outcome == FlushOutcome::kFlushed ||
                   r->outcome == FlushOutcome::kAlreadyFlushed;
  outcome.iteration_id = r->iteration_id;
  return outcome;
}

}  // namespace ha_sync::audit
