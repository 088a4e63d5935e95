#include "io/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "ha_sync/op_record.h"

namespace ha_sync::io {

FileLock::FileLock(std::string log_dir, std::string pair, std::string run_id)
    : path_(std::move(log_dir) + "/ha-sync-" + pair + ".lock"), run_id_(std::move(run_id)) {}

FileLock::~FileLock() { Release(); }

RunLock::AcquireResult FileLock::Acquire() {
  AcquireResult result;
  const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    result.status = Status::FromErrno(errno, "open lock file", path_);
    return result;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      char buf[512];
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      result.outcome = Outcome::kHeldByOther;
      // Empty: a crashed holder's file, or the shards of a sharded run
      // (shard_file_lock.h), which hold it shared and write nothing.
      result.holder = holder.empty() ? "another process, or the shards of a sharded run (lock file " + path_ + ")"
                                     : holder;
    } else {
      result.status = Status::FromErrno(err, "flock", path_);
    }
    ::close(fd);
    return result;
  }
  char host[256] = "unknown";
  ::gethostname(host, sizeof host - 1);
  const std::string info = "pid=" + std::to_string(::getpid()) + " host=" + host +
                           " run=" + run_id_ + " since=" + FormatUtcMs(NowMs()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, info.data(), info.size(), 0) < 0) {
    result.status = Status::FromErrno(errno, "write lock file", path_);
    ::close(fd);
    return result;
  }
  fd_ = fd;
  result.outcome = Outcome::kAcquired;
  return result;
}

Status FileLock::Release() {
  if (fd_ < 0) return Status::Ok();
  // Truncate first so a reader never sees a stale holder; closing drops the flock.
  (void)::ftruncate(fd_, 0);
  ::close(fd_);
  fd_ = -1;
  return Status::Ok();
}

}  // namespace ha_sync::io
