// What one run changed in dest, kept in the log directory beside the sync
// state so the run can be undone (`ha-sync undo`) without anything of
// ha-sync's in the share: <log-dir>/undo-<pair>/<stamp>-<run-id>.undo.jsonl
// (runs before this layout kept it in <dest>/.ha-sync-trash/, where undo
// still looks), one JSON line per successful operation, appended as it
// happens:
//   {"op":"create|update|delete","path":<encoded>,"type":"file|dir|symlink",
//    "size":N,"mtime_ns":N,"previous":"trash"|"conflict:<path>"|"mtime:<ns>"|null}
// after a first line {"dest":<encoded>} naming the run's destination root
// (manifests of older versions have none), so that an undo given another
// --dest (the other side of a two-way pair) is refused.
// size/mtime_ns describe dest after the operation (for a delete: before it).
// "previous" says where the version the operation replaced or removed is;
// "mtime:<ns>" is the mtime before the run (a file whose data was equal, or
// a directory whose contents the run changed: path "." is the root).
//
// Thread-safety: Append() may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::pipeline {

struct UndoRecord {
  OpKind op = OpKind::kCreate;
  std::string path;
  io::FileType type = io::FileType::kFile;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::optional<std::string> previous;  // "trash", "conflict:<path>" or "mtime:<ns>"
};

// The mtime in a "previous" of "mtime:<ns>"; false for anything else.
bool ParsePreviousMtime(const std::string& previous, int64_t* mtime_ns);
// The copy's path in a "previous" of "conflict:<path>"; false for anything else.
bool ParsePreviousConflict(const std::string& previous, std::string* copy_path);

class UndoManifest {
 public:
  // <dir>/<run_dir_name>.undo.jsonl; the folder and the file are created
  // with the first record, so a run that changes nothing leaves no trace.
  UndoManifest(std::string dir, std::string run_dir_name, std::string dest_root = {})
      : dir_(std::move(dir)), run_dir_name_(std::move(run_dir_name)), dest_root_(std::move(dest_root)) {}
  ~UndoManifest();
  Status Append(const UndoRecord& record);

  static std::string FileName(const std::string& run_dir_name) { return run_dir_name + ".undo.jsonl"; }
  // The folder of a pair's manifests: <log_dir>/undo-<pair>.
  static std::string Dir(const std::string& log_dir, const std::string& pair) {
    return log_dir + "/undo-" + pair;
  }
  // Reads a manifest (all records, in order). A manifest is read back from
  // disk and may be damaged or written by someone else, so any line that
  // does not describe a record this program could have written refuses the
  // whole manifest, naming the line: a path that is not plain
  // (io::IsPlainRelativePath; "." only for the root's mtime), an unknown op,
  // type or "previous", a conflict copy not beside its file. Only a torn
  // last line (no '\n', a crash mid-append) is skipped. `dir_display`
  // names the folder in messages.
  // `dest_root` (may be null) gets the recorded destination root, or "".
  static Status Read(int dir_fd, const std::string& dir_display, const std::string& file_name,
                     std::vector<UndoRecord>* records, std::string* dest_root = nullptr);

 private:
  Status OpenLocked();
  const std::string dir_;
  const std::string run_dir_name_;
  const std::string dest_root_;  // written first; empty: no such line
  std::mutex mu_;
  int fd_ = -1;  // guarded by mu_
};

}  // namespace ha_sync::pipeline
