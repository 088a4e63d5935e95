// Flushes opslogs into the audit database, exactly once.
//
// Protocol for one file (FlushOpslog):
//  1. open it and take flock(LOCK_EX|LOCK_NB). A live run holds that lock on
//     its own opslog for its whole life (OpslogWriter), and a flusher holds it
//     while it flushes, so a file is never flushed twice at once, nor while
//     it is still being written. Busy -> skipped (kBusy). A file already
//     unlinked by the flusher that held the lock before us -> kGone.
//  2. in ONE transaction: find the iteration by the header's run_id. Final
//     status -> the rows are already in (a kill after COMMIT, before unlink):
//     nothing is written (kAlreadyFlushed). Otherwise insert the iteration
//     (or take its 'running' row), stream every op line into batched
//     multi-row INSERTs, set the final status and counts, COMMIT.
//  3. unlink the file, then release the lock.
// A kill before COMMIT leaves no row behind (the transaction dies with the
// connection); a kill after COMMIT leaves a file whose run_id is final, which
// the next flush only deletes. Either way each operation ends up exactly once.
//
// An "intent" line without its "op" line (opslog_format.h) is an operation
// the process was killed during: it is stored as a failed operation whose
// error says the outcome is unknown.
//
// A file without a footer is a run that was killed or crashed: it is written
// as 'failed' with an error saying so, counts taken from its op lines and
// ended_at from the file's last write. A file with no complete header holds
// no operation (a run writes its header before anything else, holding the
// lock) and is left alone (kNoHeader): it may be a run that is just starting,
// and --log-retain-days removes it eventually.
//
// Thread-safety: functions; the store is used by the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

enum class FlushOutcome {
  kFlushed,         // rows written and committed, file deleted
  kAlreadyFlushed,  // rows were committed earlier; file deleted
  kNoHeader,        // no complete header, hence no operation; left in place
  kBusy,            // another process holds the file (writing or flushing it)
  kGone,            // the file was deleted (by another flusher) before we got it
};

struct FlushResult {
  FlushOutcome outcome = FlushOutcome::kBusy;
  RunHeader header;
  bool crashed = false;   // no footer: written as 'failed'
  int64_t rows = 0;       // operation rows written
  int64_t iteration_id = 0;  // the run's sync_iterations.id (0: not known)
  int64_t bad_lines = 0;  // unreadable lines skipped
};

Result<FlushResult> FlushOpslog(AuditStore* store, const std::string& path);

// Reads just the header of an opslog: for choosing which files to flush.
Result<RunHeader> ReadOpslogHeader(const std::string& path);

// The opslog files of `pair` in `log_dir` (any direction), oldest first.
// Files of other pairs are never returned, even when a pair's name is a
// prefix of another's (the header decides); header-less files neither.
Result<std::vector<std::string>> ListPairOpslogs(const std::string& log_dir,
                                                 const std::string& pair);

}  // namespace ha_sync::audit
