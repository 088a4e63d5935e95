#include "io/dir_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "ha_sync/join_rel.h"
#include "io/file_ops.h"

namespace ha_sync::io {

namespace {

FileType TypeFromMode(mode_t mode) {
  if (S_ISREG(mode)) return FileType::kFile;
  if (S_ISDIR(mode)) return FileType::kDir;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  return FileType::kOther;
}

}  // namespace

bool IdentityOf(int fd, FileIdentity* id) {
  struct statx stx;
  if (::statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO, &stx) != 0) return false;
  if ((stx.stx_mask & STATX_INO) == 0) return false;
  id->dev = (static_cast<uint64_t>(stx.stx_dev_major) << 32) | stx.stx_dev_minor;
  id->ino = stx.stx_ino;
  return true;
}

Result<bool> StillAsListed(int dirfd, const std::string& name, const std::string& display, FileType type,
                           int64_t size, int64_t mtime_ns) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Status::FromErrno(errno, "stat", display);
  if (TypeFromMode(st.st_mode) != type) return false;
  if (type == FileType::kDir) return true;
  const int64_t now_mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return (type != FileType::kFile || st.st_size == size) && now_mtime_ns == mtime_ns;
}

Status StatEntry(int dirfd, const std::string& name, const std::string& display_path,
                 Entry* entry) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Status::FromErrno(errno, "stat", JoinRel(display_path, name));
  }
  entry->name = name;
  entry->type = TypeFromMode(st.st_mode);
  entry->size = st.st_size;
  entry->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  entry->atime_ns = static_cast<int64_t>(st.st_atim.tv_sec) * 1000000000 + st.st_atim.tv_nsec;
  entry->mode = st.st_mode & 07777;
  entry->uid = st.st_uid;
  entry->gid = st.st_gid;
  entry->link_target.clear();
  if (entry->type == FileType::kSymlink) {
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 256) + 1, '\0');
    for (;;) {
      const ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) return Status::FromErrno(errno, "readlink", JoinRel(display_path, name));
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);
    }
    entry->link_target = std::move(target);
  }
  return Status::Ok();
}

namespace {

// Reads every entry of the directory just opened as `read_fd` (its offset
// at the start) and lstats each through `dirfd`. getdents64 on the fd
// itself, so a listing needs no second open of the directory: on NFS and
// FUSE that open is a round trip.
Status ReadEntries(int read_fd, int dirfd, const std::string& display_path,
                   std::vector<Entry>* entries) {
  entries->clear();
  alignas(8) char buf[32 * 1024];
  for (;;) {
    const ssize_t n = ::getdents64(read_fd, buf, sizeof buf);
    if (n < 0) return Status::FromErrno(errno, "read directory", display_path);
    if (n == 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* de = reinterpret_cast<const struct dirent64*>(buf + at);
      at += de->d_reclen;
      const char* name = de->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      Entry entry;
      Status s = StatEntry(dirfd, name, display_path, &entry);
      if (!s.ok()) {
        if (s.err() == ENOENT) continue;
        return s;
      }
      entries->push_back(std::move(entry));
    }
  }
  std::sort(entries->begin(), entries->end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return Status::Ok();
}

}  // namespace

Status ListDirectory(int dirfd, const std::string& display_path, std::vector<Entry>* entries) {
  // A duplicate open, so that `dirfd`'s offset stays as it was and several
  // threads may list through one fd.
  UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open directory", display_path);
  return ReadEntries(fd.get(), dirfd, display_path, entries);
}

Status OpenAndListChild(int parent_fd, const std::string& name, const std::string& display_path,
                        UniqueFd* fd, std::vector<Entry>* entries) {
  auto opened = OpenChildDir(parent_fd, name, display_path);
  if (!opened.ok()) return opened.status();
  fd->reset(*opened);
  // The fd is new and nobody else holds it: list through it directly.
  return ReadEntries(fd->get(), fd->get(), display_path, entries);
}

}  // namespace ha_sync::io
