#include "audit/retention.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "audit/opslog_flush.h"
#include "ha_sync/unique_fd.h"

namespace ha_sync::audit {

namespace {

bool IsOpslogName(const char* name) {
  const size_t len = std::strlen(name);
  return len >= 13 && std::strncmp(name, "opslog-", 7) == 0 && std::strcmp(name + len - 6, ".jsonl") == 0;
}

// Unlinks `path` while holding its flock, so that neither a live run nor
// a flusher loses the file under it; false when busy or gone.
bool RemoveUnlessHeld(int dir_fd, const char* name) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0 || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;
  return ::unlinkat(dir_fd, name, 0) == 0;
}

}  // namespace

Result<int64_t> RemoveOldOpslogs(const std::string& log_dir, const std::string& pair,
                                 const std::string& keep_path, int64_t retain_days, int64_t now_ms) {
  DIR* dir = ::opendir(log_dir.c_str());
  if (dir == nullptr) return Status::FromErrno(errno, "open log directory", log_dir);
  const int dfd = ::dirfd(dir);
  const int64_t cutoff_ms = now_ms - retain_days * 86400 * 1000;
  int64_t removed = 0;
  while (struct dirent* de = ::readdir(dir)) {
    if (!IsOpslogName(de->d_name)) continue;
    const std::string path = log_dir + "/" + de->d_name;
    if (path == keep_path) continue;
    struct stat st;
    if (::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    const int64_t mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (mtime_ms >= cutoff_ms) continue;
    auto header = ReadOpslogHeader(path);
    if (header.ok() ? header->pair != pair : header.status().err() != 0) continue;  // others', or unreadable
    if (RemoveUnlessHeld(dfd, de->d_name)) ++removed;
  }
  ::closedir(dir);
  return removed;
}

}  // namespace ha_sync::audit
