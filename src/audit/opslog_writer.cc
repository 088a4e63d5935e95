#include "audit/opslog_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "audit/fault_points.h"
#include "audit/opslog_format.h"

namespace ha_sync::audit {

std::string OpslogWriter::FileName(const RunHeader& header) {
  // The shards of a run start at once: their names must differ by more than the time.
  const std::string shard = header.shard_count > 1 ? ".shard-" + std::to_string(header.shard_index) + "-of-" +
                                                         std::to_string(header.shard_count)
                                                   : "";
  return "opslog-" + header.pair + "-" + header.direction + "-" + FormatUtcMs(header.started_at_ms) + shard +
         ".jsonl";
}

Result<std::unique_ptr<OpslogWriter>> OpslogWriter::Create(const std::string& log_dir,
                                                           const RunHeader& header) {
  const std::string path = log_dir + "/" + FileName(header);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno(errno, "create opslog", path);
  std::unique_ptr<OpslogWriter> writer(new OpslogWriter(path, fd));
  // Held until Finish(): a flusher skips a locked file, so a live run's
  // opslog is never flushed. Taken before the header is written, so a file
  // with a header is always either locked or finished. (A flusher that
  // found the file still empty holds the lock for a moment: wait for it.)
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return Status::FromErrno(errno, "lock opslog", path);
  Status s = writer->AppendLine(FormatHeaderLine(header));
  if (!s.ok()) return s;
  return writer;
}

OpslogWriter::~OpslogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status OpslogWriter::AppendOp(const OpRecord& op) {
  Status s = AppendLine(FormatOpLine(op));
  FaultPoint("opslog.op_appended");
  return s;
}

Status OpslogWriter::AppendIntent(const OpRecord& op) {
  Status s = AppendLine(FormatIntentLine(op));
  FaultPoint("opslog.intent_appended");
  return s;
}

Status OpslogWriter::AppendStale(const OpStale& stale) { return AppendLine(FormatStaleLine(stale)); }

Status OpslogWriter::Finish(const RunFooter& footer) {
  Status s = AppendLine(FormatFooterLine(footer));
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) {
    if (::fsync(fd_) != 0 && s.ok()) s = Status::FromErrno(errno, "fsync", path_);
    if (::close(fd_) != 0 && s.ok()) s = Status::FromErrno(errno, "close", path_);
    fd_ = -1;
  }
  return s;
}

Status OpslogWriter::AppendLine(std::string line) {
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) return Status::Error("opslog '" + path_ + "' is already closed");
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write opslog", path_);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace ha_sync::audit
