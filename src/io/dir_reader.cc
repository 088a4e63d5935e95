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

Status ListDirectory(int dirfd, const std::string& display_path, std::vector<Entry>* entries) {
  entries->clear();
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory", display_path);
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "open directory", display_path);
  }
  Status status;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) status = Status::FromErrno(errno, "read directory", display_path);
      break;
    }
    const char* n = de->d_name;
    if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) continue;
    Entry entry;
    Status s = StatEntry(dirfd, n, display_path, &entry);
    if (!s.ok()) {
      if (s.err() == ENOENT) continue;
      status = s;
      break;
    }
    entries->push_back(std::move(entry));
  }
  ::closedir(dir);
  if (!status.ok()) return status;
  std::sort(entries->begin(), entries->end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return Status::Ok();
}

Status OpenAndListChild(int parent_fd, const std::string& name, const std::string& display_path,
                        UniqueFd* fd, std::vector<Entry>* entries) {
  auto opened = OpenChildDir(parent_fd, name, display_path);
  if (!opened.ok()) return opened.status();
  fd->reset(*opened);
  return ListDirectory(fd->get(), display_path, entries);
}

}  // namespace ha_sync::io
