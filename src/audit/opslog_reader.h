// Reads an opslog back, line by line, without holding the whole file in
// memory (a run may have millions of operations).
//
// A last line without its newline is a write cut short by a crash: it is
// reported as truncated, not as data. A complete line that does not parse
// is counted in bad_lines() and skipped, so one damaged line never blocks
// the rest of the run's records.
//
// Thread-safety: one thread per reader.
#pragma once

#include <string>

#include "audit/opslog_format.h"
#include "ha_sync/status.h"

namespace ha_sync::audit {

class OpslogReader {
 public:
  // Reads from `fd` (not owned) starting at offset 0; `path` is for messages.
  OpslogReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  // Next parsed line: true with *line set, false at the end of the file.
  Result<bool> Next(OpslogLine* line);

  int64_t bad_lines() const { return bad_lines_; }
  bool truncated_tail() const { return truncated_tail_; }

 private:
  Result<bool> NextRawLine(std::string* line);

  const int fd_;
  const std::string path_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t offset_ = 0;
  int64_t bad_lines_ = 0;
  bool truncated_tail_ = false;
};

}  // namespace ha_sync::audit
