#include "audit/retention.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ha_sync::audit {

Result<int64_t> RemoveOldOpslogs(const std::string& log_dir, int64_t retain_days, int64_t now_ms) {
  DIR* dir = ::opendir(log_dir.c_str());
  if (dir == nullptr) return Status::FromErrno(errno, "open log directory", log_dir);
  const int dfd = ::dirfd(dir);
  const int64_t cutoff_ms = now_ms - retain_days * 86400 * 1000;
  int64_t removed = 0;
  while (struct dirent* de = ::readdir(dir)) {
    const size_t len = std::strlen(de->d_name);
    if (len < 13 || std::strncmp(de->d_name, "opslog-", 7) != 0 ||
        std::strcmp(de->d_name + len - 6, ".jsonl") != 0) {
      continue;
    }
    struct stat st;
    if (::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    const int64_t mtime_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (mtime_ms < cutoff_ms && ::unlinkat(dfd, de->d_name, 0) == 0) ++removed;
  }
  ::closedir(dir);
  return removed;
}

}  // namespace ha_sync::audit
