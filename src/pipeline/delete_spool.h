// Deletes are not done while walking: they are spooled here and executed
// after the walk, so --max-delete can be checked against the full count
// before the first delete, and a directory is only removed after its
// children. The spool is an unnamed temp file (O_TMPFILE in the folder it
// is given, ha-sync's $TMPDIR, or /tmp): memory does not grow with the number of deletes and nothing is
// left behind by a crash.
//
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::pipeline {

struct SpoolRecord {
  enum class Kind : char { kDelete = 'D', kRestoreDirTimes = 'M' };
  Kind kind = Kind::kDelete;
  bool is_dir = false;
  uint8_t type = 0;       // kDelete: io::FileType of the entry being deleted
  int64_t size = 0;       // kDelete: size of the file being deleted
  int64_t atime_ns = 0;   // kRestoreDirTimes: source directory times
  int64_t mtime_ns = 0;   // kRestoreDirTimes: source mtime; kDelete: the entry's mtime
  std::string rel_path;   // relative to the dest root
};

class DeleteSpool {
 public:
  // The spool lives in `dir` (empty: /tmp).
  static Result<std::unique_ptr<DeleteSpool>> Create(const std::string& dir);
  ~DeleteSpool();

  Status Append(const SpoolRecord& record);
  // Switches from writing to reading from the start.
  Status Rewind();
  // False at the end; `status` is set on a read error.
  bool Next(SpoolRecord* record, Status* status);

  int64_t files() const { return files_; }      // kDelete records of non-directories
  int64_t deletes() const { return deletes_; }  // kDelete records, directories too
  int64_t records() const { return records_; }

 private:
  explicit DeleteSpool(FILE* file) : file_(file) {}
  FILE* file_;
  int64_t files_ = 0;
  int64_t deletes_ = 0;
  int64_t records_ = 0;
};

}  // namespace ha_sync::pipeline
