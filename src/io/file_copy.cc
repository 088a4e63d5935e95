#include "io/file_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <memory>

#include "io/dir_reader.h"
#include "io/file_ops.h"
#include "io/md5.h"
#include "io/temp_copy.h"
#include "ha_sync/text.h"
#include "ha_sync/unique_fd.h"

namespace ha_sync::io {

namespace {

struct Stamp {
  int64_t size;
  int64_t mtime_ns;
  int64_t ctime_ns;
};

Stamp StampOf(const struct stat& st) {
  return {st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec};
}

Status WriteAll(int fd, const char* data, size_t n, int64_t offset, const std::string& display) {
  size_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd, data + done, n - done, offset + static_cast<int64_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write", display);
    }
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Reads the whole file through `md5`, calling `sink(data, n, offset)` per block.
template <typename Sink>
Status StreamFile(int fd, const std::string& display, const CopyOptions& options, Md5* md5,
                  int64_t* total, Sink&& sink) {
  std::unique_ptr<char[]> buf(new char[options.block_size]);
  int64_t offset = 0;
  for (;;) {
    if (CopyCancelled(options.cancel)) return CopyCancelledStatus(display);
    const ssize_t n = ::pread(fd, buf.get(), options.block_size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read", display);
    }
    if (n == 0) break;
    md5->Update(buf.get(), static_cast<size_t>(n));
    Status s = sink(buf.get(), static_cast<size_t>(n), offset);
    if (!s.ok()) return s;
    offset += n;
    if (options.block_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options.block_delay_ms));
    }
  }
  *total = offset;
  return Status::Ok();
}

}  // namespace

Status CopyFileAtomic(int src_dirfd, int dest_dirfd, const std::string& name,
                      const std::string& display, const CopyOptions& options, CopyOutcome* out) {
  UniqueFd in(::openat(src_dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (in.get() < 0) return Status::FromErrno(errno, "open source", display);
  struct stat before;
  if (::fstat(in.get(), &before) != 0) return Status::FromErrno(errno, "stat source", display);
  if (!S_ISREG(before.st_mode)) {
    return Status::Error("source '" + EscapeForDisplay(display) + "' is no longer a regular file");
  }
  // A read-ahead hint only pays for more than one block.
  if (before.st_size > static_cast<off_t>(options.block_size)) {
    ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  TempCopy temp(dest_dirfd, name, options.temp_tag, display);  // removed on every return but a commit
  const CreateMode create = CreateModeFor(before.st_mode & 07777);
  if (Status s = temp.Create(create.mode); !s.ok()) return s;
  CommitOptions commit;
  commit.mode_is_set = create.exact;
  commit.owner_is_set = !ShouldPreserveOwner() || HasOwner(temp.fd(), before.st_uid, before.st_gid);
  commit.fsync = options.fsync;
  commit.cancel = options.cancel;
  commit.no_replace = options.no_replace;
  commit.replaces = options.replaces;
  commit.written_end = 0;

  Md5 md5;
  int64_t total = 0;
  Status s = StreamFile(in.get(), display, options, &md5, &total,
                        [&](const char* data, size_t n, int64_t offset) -> Status {
                          // Leave holes where the source reads as zeros (sparse files).
                          if (AllZero(data, n)) return Status::Ok();
                          commit.written_end = offset + static_cast<int64_t>(n);
                          return WriteAll(temp.fd(), data, n, offset, display);
                        });
  if (!s.ok()) return s;

  struct stat after;
  if (::fstat(in.get(), &after) != 0) return Status::FromErrno(errno, "stat source", display);
  const Stamp b = StampOf(before), a = StampOf(after);
  if (b.size != a.size || b.mtime_ns != a.mtime_ns || a.size != total) return SourceChangedStatus(display);

  Entry source;
  source.name = name;
  source.type = FileType::kFile;
  source.size = total;
  source.mtime_ns = b.mtime_ns;
  source.atime_ns = static_cast<int64_t>(before.st_atim.tv_sec) * 1000000000 + before.st_atim.tv_nsec;
  source.mode = before.st_mode & 07777;
  source.uid = before.st_uid;
  source.gid = before.st_gid;
  s = temp.Commit(source, commit);
  if (!s.ok()) return s;
  out->bytes = total;
  out->md5 = md5.FinishHex();
  out->source = std::move(source);
  return Status::Ok();
}

Status CopySymlinkAtomic(int dest_dirfd, const Entry& like, const std::string& display, uint32_t temp_tag,
                         bool no_replace, std::optional<PlannedTarget> replaces) {
  const std::string tmp = MakeSyncTempName(like.name, TaggedRandom(temp_tag));
  if (::symlinkat(like.link_target.c_str(), dest_dirfd, tmp.c_str()) != 0) {
    return Status::FromErrno(errno, "symlink", display);
  }
  auto fail = [&](Status s) {
    ::unlinkat(dest_dirfd, tmp.c_str(), 0);
    return s;
  };
  if (ShouldPreserveOwner() &&
      ::fchownat(dest_dirfd, tmp.c_str(), like.uid, like.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != EPERM && errno != EINVAL) return fail(Status::FromErrno(errno, "chown", display));
    ReportOwnerRefused(display, errno);
  }
  Status s = SetTimes(dest_dirfd, tmp, like.atime_ns, like.mtime_ns, display);
  if (!s.ok()) return fail(s);
  if (replaces) {
    auto same = StillAsListed(dest_dirfd, like.name, display, FileType::kSymlink, replaces->size, replaces->mtime_ns);
    if (!same.ok() || !*same) return fail(ChangedOnDestStatus(display));
  }
  const int r = no_replace ? RenameNoReplace(dest_dirfd, tmp, dest_dirfd, like.name)
                           : (::renameat(dest_dirfd, tmp.c_str(), dest_dirfd, like.name.c_str()) == 0 ? 0 : -errno);
  if (r == -EEXIST && no_replace) return fail(AppearedOnDestStatus(display));
  if (r < 0) return fail(Status::FromErrno(-r, "rename into place", display));
  return Status::Ok();
}

Status HashFile(int dirfd, const std::string& name, const std::string& display,
                const CopyOptions& options, std::string* md5_hex) {
  UniqueFd in(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (in.get() < 0) return Status::FromErrno(errno, "open", display);
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  Md5 md5;
  int64_t total = 0;
  Status s = StreamFile(in.get(), display, options, &md5, &total,
                        [](const char*, size_t, int64_t) { return Status::Ok(); });
  if (!s.ok()) return s;
  *md5_hex = md5.FinishHex();
  return Status::Ok();
}

}  // namespace ha_sync::io
