// RunLock on a local file: flock(LOCK_EX|LOCK_NB) on <log-dir>/ha-sync-<pair>.lock.
// The holder writes "pid=<pid> host=<host> run=<run-id> since=<time>" into
// the file so a second run can say who holds it. The kernel drops the lock
// when the process dies, so a crash never leaves the pair locked.
//
// Thread-safety: MayStillWrite() from any thread; the rest from one thread.
#pragma once

#include <string>

#include "ha_sync/run_lock.h"

namespace ha_sync::io {

class FileLock : public RunLock {
 public:
  FileLock(std::string log_dir, std::string pair, std::string run_id);
  ~FileLock() override;

  AcquireResult Acquire() override;
  bool MayStillWrite() const override { return true; }
  Status Release() override;

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::string run_id_;
  int fd_ = -1;
};

}  // namespace ha_sync::io
