// Which temp files in dest a pair's runs can prove are their own.
//
// Every run that may create temp files first registers a random 32-bit tag
// here, fsynced before its first temp file exists, and puts the tag in
// each temp name (io::SyncTempTag). A later run removes a temp-named entry
// from dest only when its tag is registered for the pair: a crashed run's
// leftovers go, while a user's file that merely looks like a temp file is
// left alone with a warning.
//
// File: <log-dir>/temp-tags-<pair>, one tag per line (8 hex digits),
// appended; the newest kKeptTags are kept.
//
// Thread-safety: functions of one process at a time per pair (the run
// holds the pair's lock).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::pipeline {

inline constexpr size_t kKeptTags = 16384;  // months of runs every 15 minutes

std::string TempTagsPath(const std::string& log_dir, const std::string& pair);

// Draws a new non-zero tag, appends it to the file and fsyncs it.
Result<uint32_t> RegisterTempTag(const std::string& path);

// The registered tags, sorted (none when the file does not exist).
Result<std::vector<uint32_t>> LoadTempTags(const std::string& path);

// A temp-named file (io::IsSyncTempName) whose tag is in `own_tags`
// (sorted): a leftover of this pair's runs, which a run may remove. Any
// other temp-named entry is left alone.
bool IsOwnTemp(const io::Entry& e, const std::vector<uint32_t>& own_tags);

}  // namespace ha_sync::pipeline
