// The trash of one run in one destination root:
// <dest>/.ha-sync-trash/<YYYYmmddTHHMMSSZ>-<run-id>/<relative path>.
// Deleted files are moved there (rename, same filesystem) and overwritten
// files are hard-linked there before the new version is renamed over them,
// so every version a run replaced or removed survives until the trash
// expires (--trash-retain-days). The trash is never synced.
//
// Thread-safety: all methods may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ha_sync/status.h"
#include "ha_sync/unique_fd.h"

namespace ha_sync::pipeline {

inline constexpr const char* kTrashDirName = ".ha-sync-trash";

// Opens <dest root>/.ha-sync-trash, creating it when missing. Creating it
// changes the root's times, which a run makes equal to src's: they are put
// back, since the trash is ha-sync's own. The one place that creates it
// (the trash and the undo manifest both go through here).
Result<int> OpenTrashFolder(int dest_root_fd);

class Trash {
 public:
  // `dest_root_fd` stays owned by the caller and must outlive the Trash.
  Trash(int dest_root_fd, std::string run_dir_name);

  // Moves parent_fd/<last component of rel_path> into the trash.
  Status MoveIn(int parent_fd, const std::string& rel_path);
  // Moves from_dir_fd/from_name into the trash as rel_path (an entry that
  // undo set aside under another name, see undo.h).
  Status MoveInFrom(int from_dir_fd, const std::string& from_name, const std::string& rel_path);
  // Hard-links parent_fd/<last component of rel_path> into the trash. A
  // path already there (a second version in one run) keeps the first.
  Status LinkIn(int parent_fd, const std::string& rel_path);

  const std::string& run_dir_name() const { return run_dir_name_; }

  // Removes run folders whose time stamp is older than `retain_days`.
  // Returns how many were removed.
  static Result<int64_t> RemoveExpired(int dest_root_fd, int64_t retain_days, int64_t now_ms);
  // The same for any folder whose entries are named "<stamp>...", e.g. the
  // undo manifests in the log directory (undo_manifest.h).
  static Result<int64_t> RemoveExpiredIn(int dir_fd, const std::string& display, int64_t retain_days,
                                         int64_t now_ms);
  // "20261125T210000Z"
  static std::string Stamp(int64_t ms);

 private:
  // The trash folder for the parent of rel_path, created as needed; *name is
  // rel_path's last component.
  Result<std::shared_ptr<const UniqueFd>> OpenParentInTrash(const std::string& rel_path,
                                                            std::string* name);
  // `folder` below the run folder ("" is the run folder itself), made
  // (with its parents) when missing.
  Result<std::shared_ptr<const UniqueFd>> Folder(const std::string& folder);

  // Folders stay open for the run: on NFS each mkdir or open of a folder is a
  // round trip, and a run moves many files into few folders.
  static constexpr size_t kMaxOpenFolders = 256;

  const int dest_root_fd_;
  const std::string run_dir_name_;
  std::mutex mu_;  // guards folders_
  std::unordered_map<std::string, std::shared_ptr<const UniqueFd>> folders_;
};

// Removes dirfd/name and everything below it without following symlinks.
Status RemoveTreeAt(int dirfd, const std::string& name, const std::string& display);

}  // namespace ha_sync::pipeline
