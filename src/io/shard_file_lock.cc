#include "io/shard_file_lock.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "io/unique_fd.h"

namespace ha_sync::io {

namespace {

constexpr int kOpenFlags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;

std::string Holder(int fd, const std::string& path) {
  char buf[512];
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
  return holder.empty() ? "another process, or the shards of a sharded run (lock file " + path + ")" : holder;
}

RunLock::AcquireResult HeldBy(std::string holder) {
  RunLock::AcquireResult r;
  r.outcome = RunLock::Outcome::kHeldByOther;
  r.holder = std::move(holder);
  return r;
}

RunLock::AcquireResult Failed(int err, const char* what, const std::string& path) {
  RunLock::AcquireResult r;
  r.status = Status::FromErrno(err, what, path);
  return r;
}

}  // namespace

ShardFileLock::ShardFileLock(std::string log_dir, std::string pair, int index, int count, std::string run_id)
    : log_dir_(log_dir),
      pair_(pair),
      count_(count),
      own_(log_dir, pair + "-" + std::to_string(index) + "-of-" + std::to_string(count), std::move(run_id)) {}

ShardFileLock::~ShardFileLock() { Release(); }

RunLock::AcquireResult ShardFileLock::JoinGroup() {
  const std::string pair_path = log_dir_ + "/ha-sync-" + pair_ + ".lock";
  UniqueFd pair(::open(pair_path.c_str(), kOpenFlags, 0644));
  if (pair.get() < 0) return Failed(errno, "open lock file", pair_path);
  if (::flock(pair.get(), LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return HeldBy(Holder(pair.get(), pair_path));
    return Failed(errno, "flock", pair_path);
  }
  // Any other shard count marked active?
  const std::string prefix = "ha-sync-" + pair_ + ".shards-of-";
  const std::string mine = prefix + std::to_string(count_) + ".lock";
  DIR* dir = ::opendir(log_dir_.c_str());
  if (dir == nullptr) return Failed(errno, "list lock files in", log_dir_);
  AcquireResult busy;
  busy.outcome = Outcome::kAcquired;
  while (dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) != 0 || name == mine) continue;
    const std::string path = log_dir_ + "/" + name;
    UniqueFd other(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (other.get() < 0) continue;  // removed meanwhile: not held
    if (::flock(other.get(), LOCK_EX | LOCK_NB) != 0) {
      busy = HeldBy("a sharded run of " + name.substr(prefix.size(), name.size() - prefix.size() - 5) +
                    " shards (lock file " + path + ")");
      break;
    }
  }
  ::closedir(dir);
  if (busy.outcome != Outcome::kAcquired) return busy;
  const std::string group_path = log_dir_ + "/" + mine;
  UniqueFd group(::open(group_path.c_str(), kOpenFlags, 0644));
  if (group.get() < 0) return Failed(errno, "open lock file", group_path);
  if (::flock(group.get(), LOCK_SH | LOCK_NB) != 0) return Failed(errno, "flock", group_path);
  pair_fd_ = pair.release();
  group_fd_ = group.release();
  return busy;
}

RunLock::AcquireResult ShardFileLock::Acquire() {
  const std::string gate_path = log_dir_ + "/ha-sync-" + pair_ + ".shards-gate.lock";
  AcquireResult r;
  {
    UniqueFd gate(::open(gate_path.c_str(), kOpenFlags, 0644));
    if (gate.get() < 0) return Failed(errno, "open lock file", gate_path);
    // Held for a few system calls by another shard starting: wait for it.
    while (::flock(gate.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return Failed(errno, "flock", gate_path);
    }
    r = JoinGroup();
  }  // closing the gate's fd drops it
  if (r.outcome != Outcome::kAcquired) return r;
  r = own_.Acquire();
  if (r.outcome != Outcome::kAcquired) Drop();
  return r;
}

void ShardFileLock::Drop() {
  for (int* fd : {&group_fd_, &pair_fd_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

Status ShardFileLock::Release() {
  Status s = own_.Release();
  Drop();
  return s;
}

}  // namespace ha_sync::io
