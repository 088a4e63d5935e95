#include "io/file_ops.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "ha_sync/text.h"
#include "ha_sync/unique_fd.h"

namespace ha_sync::io {

namespace {

struct timespec ToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

std::atomic<bool> g_owner_refused{false};

constexpr int kDirBelowFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// Opens `rel_path` below `root_fd` one component at a time: `step(dir_fd,
// part, shown)` opens (or makes and opens) the component `part` of the
// directory dir_fd and returns its fd; `shown` is the path up to it, for
// messages. Empty and "." components are skipped, ".." refused; every fd
// but the one returned is closed.
template <typename Step>
Result<int> DescendByComponents(int root_fd, const std::string& rel_path, Step&& step) {
  UniqueFd fd(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open directory", ".");
  size_t pos = 0;
  while (pos < rel_path.size()) {
    size_t slash = rel_path.find('/', pos);
    if (slash == std::string::npos) slash = rel_path.size();
    const std::string part = rel_path.substr(pos, slash - pos);
    const std::string shown = rel_path.substr(0, slash);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return Status::Error("open directory '" + EscapeForDisplay(rel_path) + "': '..' refused");
    }
    Result<int> next = step(fd.get(), part, shown);
    if (!next.ok()) return next.status();
    fd.reset(*next);
  }
  return fd.release();
}

Result<int> OpenDirByComponents(int root_fd, const std::string& rel_path) {
  return DescendByComponents(root_fd, rel_path,
                             [&](int dir_fd, const std::string& part, const std::string&) -> Result<int> {
                               const int next = ::openat(dir_fd, part.c_str(), kDirBelowFlags);
                               if (next < 0) return Status::FromErrno(errno, "open directory", rel_path);
                               return next;
                             });
}

}  // namespace

Result<int> OpenDirBeneath(int root_fd, const std::string& rel_path) {
  if (rel_path.empty() || rel_path == ".") return OpenDirByComponents(root_fd, "");
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, root_fd, rel_path.c_str(), &how, sizeof how);
  if (fd >= 0) return static_cast<int>(fd);
  // A path beyond PATH_MAX (deep trees sync through dirfds) is opened one
  // component at a time.
  if (errno == ENOSYS || errno == EPERM || errno == ENAMETOOLONG) return OpenDirByComponents(root_fd, rel_path);
  if (errno == ELOOP || errno == EXDEV) {
    return Status::Error("open directory '" + EscapeForDisplay(rel_path) +
                             "': a symlink or '..' in the path was refused",
                         errno);
  }
  return Status::FromErrno(errno, "open directory", rel_path);
}

bool IsPlainRelativePath(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) return false;
  size_t pos = 0;
  for (;;) {
    const size_t slash = path.find('/', pos);
    const std::string_view part = path.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

Result<int> MakeDirsBeneath(int root_fd, const std::string& rel_path, mode_t mode) {
  if (!rel_path.empty() && !IsPlainRelativePath(rel_path)) {
    return Status::Error("create directory '" + EscapeForDisplay(rel_path) + "': not a plain relative path",
                         EINVAL);
  }
  // One plain component at a time with O_NOFOLLOW: no "..", and a symlink
  // is never followed, so nothing outside the root is reached.
  return DescendByComponents(root_fd, rel_path, [&](int dir_fd, const std::string& part,
                                                    const std::string& shown) -> Result<int> {
    int next = ::openat(dir_fd, part.c_str(), kDirBelowFlags);
    if (next < 0 && errno == ENOENT) {
      // mkdirat never follows a symlink in the last component (a dangling
      // one gives EEXIST), and the open below refuses it.
      if (::mkdirat(dir_fd, part.c_str(), mode) != 0 && errno != EEXIST) {
        return Status::FromErrno(errno, "create directory", shown);
      }
      next = ::openat(dir_fd, part.c_str(), kDirBelowFlags);
    }
    if (next >= 0) return next;
    int err = errno;
    // O_DIRECTORY|O_NOFOLLOW on a symlink answers ENOTDIR: say what it is.
    struct stat st;
    if (err == ENOTDIR && ::fstatat(dir_fd, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      err = ELOOP;
    }
    if (err == ELOOP) {
      return Status::FromErrno(err, "create directory (a symlink in the path is never followed)", shown);
    }
    return Status::FromErrno(err, "open directory", shown);
  });
}

Result<int> OpenChildDir(int dirfd, const std::string& name, const std::string& display) {
  const int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory", display);
  return fd;
}

Result<int> OpenRoot(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) return Status::Error("'" + EscapeForDisplay(path) + "' is not a directory", errno);
    return Status::FromErrno(errno, "open root", path);
  }
  return fd;
}

int RenameNoReplace(int from_dirfd, const std::string& from, int to_dirfd, const std::string& to) {
  if (::renameat2(from_dirfd, from.c_str(), to_dirfd, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -errno;  // EEXIST among them
  struct stat st;
  if (::fstatat(to_dirfd, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return -EEXIST;
  if (errno != ENOENT) return -errno;
  return ::renameat(from_dirfd, from.c_str(), to_dirfd, to.c_str()) == 0 ? 0 : -errno;
}

Status MakeDir(int dirfd, const std::string& name, const std::string& display) {
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
    return Status::FromErrno(errno, "mkdir", display);
  }
  return Status::Ok();
}

Status RemoveEntry(int dirfd, const std::string& name, bool is_dir, const std::string& display) {
  if (::unlinkat(dirfd, name.c_str(), is_dir ? AT_REMOVEDIR : 0) != 0) {
    return Status::FromErrno(errno, is_dir ? "rmdir" : "unlink", display);
  }
  return Status::Ok();
}

Status SetTimes(int dirfd, const std::string& name, int64_t atime_ns, int64_t mtime_ns,
                const std::string& display) {
  const struct timespec times[2] = {ToTimespec(atime_ns), ToTimespec(mtime_ns)};
  if (::utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "set times", display);
  }
  return Status::Ok();
}

Status ApplyAttributes(int fd, const Entry& like, const std::string& display, bool mode_is_set,
                       bool owner_is_set) {
  if (!owner_is_set && ShouldPreserveOwner() && ::fchown(fd, like.uid, like.gid) != 0) {
    if (errno != EPERM && errno != EINVAL) return Status::FromErrno(errno, "chown", display);
    ReportOwnerRefused(display, errno);
  }
  // A chown may clear set-id bits, but CreateModeFor never lets those skip the chmod.
  if (!mode_is_set && ::fchmod(fd, like.mode) != 0) {
    return Status::FromErrno(errno, "chmod", display);
  }
  const struct timespec times[2] = {ToTimespec(like.atime_ns), ToTimespec(like.mtime_ns)};
  if (::futimens(fd, times) != 0) return Status::FromErrno(errno, "set times", display);
  return Status::Ok();
}

bool HasOwner(int fd, uid_t uid, gid_t gid) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && st.st_uid == uid && st.st_gid == gid;
}

namespace {

// The umask from /proc/self/status, without changing it (umask(2) can only
// be read by setting it, which would race with other threads' creates);
// -1 when unknown.
int ReadUmask() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return -1;
  char line[256];
  int mask = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned value;
    if (std::sscanf(line, "Umask: %o", &value) == 1) {
      mask = static_cast<int>(value);
      break;
    }
  }
  std::fclose(f);
  return mask;
}

}  // namespace

CreateMode CreateModeFor(mode_t wanted) {
  static const int umask_now = ReadUmask();
  const bool plain = (wanted & 07000) == 0 && (wanted & (S_IRUSR | S_IWUSR)) == (S_IRUSR | S_IWUSR);
  if (!plain || umask_now < 0 || (wanted & static_cast<mode_t>(umask_now)) != 0) return {0600, false};
  return {wanted, true};
}

bool ShouldPreserveOwner() {
  static const bool is_root = ::geteuid() == 0;
  return is_root && !g_owner_refused.load(std::memory_order_relaxed);
}

void ReportOwnerRefused(const std::string& display, int err) {
  if (!g_owner_refused.exchange(true)) {
    char buf[128];
    std::fprintf(stderr,
                 "ha-sync: warning: cannot preserve owner/group (chown '%s': %s); "
                 "continuing without (root-squash?)\n",
                 EscapeForDisplay(display).c_str(), strerror_r(err, buf, sizeof buf));
  }
}

uint64_t RandomU64() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

uint64_t TaggedRandom(uint32_t tag) { return (uint64_t{tag} << 32) | (RandomU64() & 0xffffffffULL); }

}  // namespace ha_sync::io
