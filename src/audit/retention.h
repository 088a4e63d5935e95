// Opslog retention: removes opslog-*.jsonl files in the log directory whose
// mtime is older than `retain_days` days. Returns how many were removed.
//
// Thread-safety: reentrant (several runs may prune one directory at once;
// a file another run removed first is simply not counted).
#pragma once

#include <cstdint>
#include <string>

#include "ha_sync/status.h"

namespace ha_sync::audit {

Result<int64_t> RemoveOldOpslogs(const std::string& log_dir, int64_t retain_days, int64_t now_ms);

}  // namespace ha_sync::audit
