// Appends the opslog of one run: <log-dir>/opslog-<pair>-<direction>-<time>.jsonl.
// Each line goes to the kernel with one write() as soon as it is appended,
// so a killed process loses no line it appended (nothing is buffered here).
// The file is flock()ed (LOCK_EX) from before its header is written until
// Finish(): flushers (opslog_flush.h) skip it while the run is alive.
//
// Thread-safety: Append* may be called from several threads; lines never
// interleave. Open/Close from one thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "audit/opslog_format.h"
#include "ha_sync/op_record.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

class OpslogWriter {
 public:
  // Creates the file (never overwrites) and writes the header line.
  static Result<std::unique_ptr<OpslogWriter>> Create(const std::string& log_dir,
                                                      const RunHeader& header);
  ~OpslogWriter();

  Status AppendOp(const OpRecord& op);
  // Before a change to dest whose record must survive a kill between the
  // change and AppendOp (see opslog_format.h): the fields known up front.
  Status AppendIntent(const OpRecord& op);
  // A planned operation `ha-sync apply` skipped as stale.
  Status AppendStale(const OpStale& stale);
  // Writes the footer and closes the file; later appends fail.
  Status Finish(const RunFooter& footer);

  const std::string& path() const { return path_; }

  // "opslog-<pair>-<direction>-<2026-11-25T20:42:00.123Z>.jsonl"; a shard's
  // ends ".shard-<i>-of-<n>.jsonl".
  static std::string FileName(const RunHeader& header);

 private:
  OpslogWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status AppendLine(std::string line);

  const std::string path_;
  std::mutex mu_;
  int fd_;  // guarded by mu_; -1 after Finish
};

}  // namespace ha_sync::audit
