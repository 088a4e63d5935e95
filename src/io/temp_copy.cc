#include "io/temp_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "ha_sync/text.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"

namespace ha_sync::io {

bool AllZero(const char* p, size_t n) {
  // The first 16 bytes one by one, then the rest against itself 16 bytes
  // on: all equal to the zeros before them.
  if (n == 0) return true;
  for (size_t i = 0; i < n && i < 16; ++i) {
    if (p[i] != 0) return false;
  }
  return n <= 16 || std::memcmp(p, p + 16, n - 16) == 0;
}

bool CopyCancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

Status CopyCancelledStatus(const std::string& display) {
  return Status::Error("copy of '" + EscapeForDisplay(display) + "' aborted: run is stopping", ECANCELED);
}

Status SourceChangedStatus(const std::string& display) {
  return Status::Error("source '" + EscapeForDisplay(display) +
                       "' changed during copy (size or mtime moved); copy discarded, "
                       "the next run retries");
}

Status AppearedOnDestStatus(const std::string& display) {
  return Status::Error("'" + EscapeForDisplay(display) +
                           "' appeared on dest while it was copied: left as it is, this copy discarded "
                           "(the next run compares the two)",
                       EEXIST);
}

Status ChangedOnDestStatus(const std::string& display) {
  return Status::Error("'" + EscapeForDisplay(display) +
                           "' changed on dest while it was copied: left as it is, this copy discarded "
                           "(the next run compares the two)",
                       EBUSY);
}

int CommitCalls::Fsync(int fd) { return ::fsync(fd) == 0 ? 0 : -errno; }

int CommitCalls::Close(int fd) { return ::close(fd) == 0 ? 0 : -errno; }

int CommitCalls::Rename(int dirfd, const std::string& from, const std::string& to, bool no_replace) {
  if (no_replace) return RenameNoReplace(dirfd, from, dirfd, to);
  return ::renameat(dirfd, from.c_str(), dirfd, to.c_str()) == 0 ? 0 : -errno;
}

TempCopy::TempCopy(int dest_dirfd, std::string name, uint32_t temp_tag, std::string display)
    : dirfd_(dest_dirfd),
      name_(std::move(name)),
      display_(std::move(display)),
      temp_(MakeSyncTempName(name_, TaggedRandom(temp_tag))) {}

TempCopy::~TempCopy() { Discard(); }

Status TempCopy::Create(mode_t mode) {
  const int fd = ::openat(dirfd_, temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  return Adopt(fd >= 0 ? fd : -errno);
}

Status TempCopy::Adopt(int fd_or_negative_errno) {
  if (fd_or_negative_errno < 0) return Status::FromErrno(-fd_or_negative_errno, "create temp file for", display_);
  fd_ = fd_or_negative_errno;
  exists_ = true;
  return Status::Ok();
}

Status TempCopy::Commit(const Entry& source, const CommitOptions& options, CommitCalls* calls) {
  CommitCalls blocking;
  Status s = Finish(source, options, calls != nullptr ? calls : &blocking);
  if (!s.ok()) Discard();
  return s;
}

Status TempCopy::Finish(const Entry& source, const CommitOptions& options, CommitCalls* calls) {
  if (fd_ < 0) return Status::Error("no temp file to commit for '" + EscapeForDisplay(display_) + "'");
  if (options.written_end != source.size && ::ftruncate(fd_, source.size) != 0) {
    return Status::FromErrno(errno, "truncate", display_);
  }
  Status s = ApplyAttributes(fd_, source, display_, options.mode_is_set, options.owner_is_set);
  if (!s.ok()) return s;
  if (options.fsync) {
    if (const int r = calls->Fsync(fd_); r < 0) return Status::FromErrno(-r, "fsync", display_);
  }
  if (const int r = calls->Close(std::exchange(fd_, -1)); r < 0) {
    return Status::FromErrno(-r, "close", display_);
  }
  if (CopyCancelled(options.cancel)) return CopyCancelledStatus(display_);
  if (options.replaces) {
    auto same = StillAsListed(dirfd_, name_, display_, FileType::kFile, options.replaces->size,
                              options.replaces->mtime_ns);
    if (!same.ok() || !*same) return ChangedOnDestStatus(display_);
  }
  if (const int r = calls->Rename(dirfd_, temp_, name_, options.no_replace); r < 0) {
    if (r == -EEXIST && options.no_replace) return AppearedOnDestStatus(display_);
    return Status::FromErrno(-r, "rename into place", display_);
  }
  exists_ = false;
  return Status::Ok();
}

void TempCopy::Discard() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (exists_) ::unlinkat(dirfd_, temp_.c_str(), 0);
  exists_ = false;
}

}  // namespace ha_sync::io
