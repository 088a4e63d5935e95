// Opslog retention (--log-retain-days): removes the opslog-*.jsonl files in
// the log directory whose mtime is older than `retain_days` days. An opslog
// still in the directory was not stored in the database (a stored one is
// deleted when it is stored, opslog_flush.h), so this bounds what a long
// database outage keeps on disk, and nothing more:
// - only `pair`'s opslogs (by their header; another pair's runs prune
//   their own), and files without a complete header (no operation in them;
//   one that cannot be read is left alone);
// - never `keep_path` (the calling run's own opslog: a run that could not
//   store it says the next run will);
// - never a file another process holds (flock: a live run writing it, or a
//   flusher storing it).
// Returns how many were removed.
//
// Thread-safety: reentrant (several runs may prune one directory at once;
// a file another run removed first is simply not counted).
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::audit {

Result<int64_t> RemoveOldOpslogs(const std::string& log_dir, const std::string& pair,
                                 const std::string& keep_path, int64_t retain_days, int64_t now_ms);

}  // namespace ha_sync::audit
