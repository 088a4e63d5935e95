#include "pipeline/trash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <vector>

#include "ha_sync/join_rel.h"
#include "ha_sync/utc_time.h"
#include "io/dir_reader.h"
#include "io/file_ops.h"

namespace ha_sync::pipeline {

Trash::Trash(int dest_root_fd, std::string run_dir_name)
    : dest_root_fd_(dest_root_fd), run_dir_name_(std::move(run_dir_name)) {}

std::string Trash::Stamp(int64_t ms) { return FormatUtc(ms, UtcStyle::kCompact); }

Result<int> OpenTrashFolder(int dest_root_fd) {
  // Serialises creators in this process, so no one restores times another
  // creator's mkdir has already changed.
  static std::mutex create_mu;
  std::lock_guard<std::mutex> lock(create_mu);
  int fd = ::openat(dest_root_fd, kTrashDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return Status::FromErrno(errno, "open", kTrashDirName);
  struct stat root_before;
  const bool have_root_times = ::fstat(dest_root_fd, &root_before) == 0;
  if (::mkdirat(dest_root_fd, kTrashDirName, 0700) != 0) {
    if (errno != EEXIST) return Status::FromErrno(errno, "create trash folder", kTrashDirName);
  } else if (have_root_times) {
    const struct timespec times[2] = {root_before.st_atim, root_before.st_mtim};
    ::futimens(dest_root_fd, times);
  }
  fd = ::openat(dest_root_fd, kTrashDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open", kTrashDirName);
  return fd;
}

Result<std::shared_ptr<const UniqueFd>> Trash::OpenParentInTrash(const std::string& rel_path,
                                                                   std::string* name) {
  std::string folder;
  SplitRel(rel_path, &folder, name);
  return Folder(folder);
}

Result<std::shared_ptr<const UniqueFd>> Trash::Folder(const std::string& folder) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = folders_.find(folder); it != folders_.end()) return it->second;
  }
  // Made outside the lock: threads making different folders overlap their
  // round trips; two making the same one both succeed (EEXIST), one is kept.
  std::shared_ptr<const UniqueFd> parent;
  std::string part;
  if (folder.empty()) {
    auto trash = OpenTrashFolder(dest_root_fd_);
    if (!trash.ok()) return trash.status();
    parent = std::make_shared<const UniqueFd>(*trash);
    part = run_dir_name_;
  } else {
    std::string up_folder;
    SplitRel(folder, &up_folder, &part);
    auto up = Folder(up_folder);
    if (!up.ok()) return up.status();
    parent = *up;
  }
  const std::string shown = std::string(kTrashDirName) + "/" + run_dir_name_ +
                            (folder.empty() ? "" : "/" + folder);
  if (::mkdirat(parent->get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create trash folder", shown);
  }
  const int fd = ::openat(parent->get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open trash folder", shown);
  auto opened = std::make_shared<const UniqueFd>(fd);
  std::lock_guard<std::mutex> lock(mu_);
  // Bounds the fds held; a holder keeps its folder's fd open past the clear.
  if (folders_.size() >= kMaxOpenFolders) folders_.clear();
  return folders_.emplace(folder, std::move(opened)).first->second;
}

Status Trash::MoveIn(int parent_fd, const std::string& rel_path) {
  std::string folder, name;
  SplitRel(rel_path, &folder, &name);
  return MoveInFrom(parent_fd, name, rel_path);
}

Status Trash::MoveInFrom(int from_dir_fd, const std::string& from_name, const std::string& rel_path) {
  std::string name;
  auto folder = OpenParentInTrash(rel_path, &name);
  if (!folder.ok()) return folder.status();
  if (::renameat(from_dir_fd, from_name.c_str(), (*folder)->get(), name.c_str()) != 0) {
    return Status::FromErrno(errno, "move to trash", rel_path);
  }
  return Status::Ok();
}

Status Trash::LinkIn(int parent_fd, const std::string& rel_path) {
  std::string name;
  auto folder = OpenParentInTrash(rel_path, &name);
  if (!folder.ok()) return folder.status();
  const int trash_fd = (*folder)->get();
  if (::linkat(parent_fd, name.c_str(), trash_fd, name.c_str(), 0) == 0) return Status::Ok();
  // The path is in this run's trash already (the second pass replaces what
  // the first one wrote): the version kept first is the one dest had before
  // the run, the one to keep and the one undo restores; the later one is
  // this run's own copy of src.
  if (errno == EEXIST) return Status::Ok();
  return Status::FromErrno(errno, "keep previous version in trash", rel_path);
}

Status RemoveTreeAt(int dirfd, const std::string& name, const std::string& display) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : Status::FromErrno(errno, "stat", display);
  }
  if (S_ISDIR(st.st_mode)) {
    auto fd = io::OpenChildDir(dirfd, name, display);
    if (!fd.ok()) return fd.status();
    std::vector<io::Entry> children;
    Status s = io::ListDirectory(*fd, display, &children);
    for (const auto& c : children) {
      if (!s.ok()) break;
      s = RemoveTreeAt(*fd, c.name, display + "/" + c.name);
    }
    ::close(*fd);
    if (!s.ok()) return s;
  }
  return io::RemoveEntry(dirfd, name, S_ISDIR(st.st_mode), display);
}

Result<int64_t> Trash::RemoveExpired(int dest_root_fd, int64_t retain_days, int64_t now_ms) {
  const int fd = ::openat(dest_root_fd, kTrashDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return int64_t{0};
    return Status::FromErrno(errno, "open", kTrashDirName);
  }
  auto removed = RemoveExpiredIn(fd, kTrashDirName, retain_days, now_ms);
  ::close(fd);
  return removed;
}

Result<int64_t> Trash::RemoveExpiredIn(int dir_fd, const std::string& display, int64_t retain_days,
                                       int64_t now_ms) {
  std::vector<io::Entry> runs;
  Status s = io::ListDirectory(dir_fd, display, &runs);
  int64_t removed = 0;
  const std::string cutoff = Stamp(now_ms - retain_days * 86400 * 1000);
  for (const auto& run : runs) {
    if (!s.ok()) break;
    // Names start with the stamp, so they compare in time order.
    if (run.name.size() >= cutoff.size() && run.name.compare(0, cutoff.size(), cutoff) < 0) {
      s = RemoveTreeAt(dir_fd, run.name, display + "/" + run.name);
      if (s.ok()) ++removed;
    }
  }
  if (!s.ok()) return s;
  return removed;
}

}  // namespace ha_sync::pipeline
