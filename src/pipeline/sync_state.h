// The last synced state of a pair: for every path both sides agreed on at
// the end of the last successful run (of either direction), its type, size
// and mtime. It lets a one-way run tell "deleted on src" from "new on dest"
// and "changed here" from "changed on both sides" (docs/safety.md).
//
// File format (<log-dir>/state-<pair>.hss, written atomically: temp file,
// fsync, rename): a magic line, then blocks, one per directory, in any
// order: 'D' u32 len path, then per entry 'E' u8 type u32 len name
// i64 size i64 mtime_ns. Paths are raw bytes, relative to the roots ("" is
// the root). A reader keeps only an index of directory -> offset in memory
// (one entry per directory, not per file) and loads one directory at a
// time, so memory does not grow with the number of files.
//
// Thread-safety: a StateReader is used by one thread; StateWriter is
// internally locked (blocks may come from several threads).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::pipeline {

struct StateEntry {
  std::string name;
  io::FileType type = io::FileType::kFile;
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

// True when `e` is exactly as recorded: same type; for files the same size;
// for files and symlinks the same mtime, to the nanosecond or to the
// coarser precision the side's filesystem keeps (MtimeMatchesRecord). No
// --mtime-threshold here: the state holds the exact values of the last
// sync, so any difference is a change (docs/safety.md).
bool SameAsState(const io::Entry& e, const StateEntry& s);
// observed == recorded, or observed is recorded cut to a whole number of
// seconds, or of 10^k ns (the observed value's own precision).
bool MtimeMatchesRecord(int64_t observed_ns, int64_t recorded_ns);

std::string StatePath(const std::string& log_dir, const std::string& pair);

class StateReader {
 public:
  // Returns nullptr (and ok) when there is no state file yet.
  static Result<std::unique_ptr<StateReader>> Open(const std::string& path);
  ~StateReader();

  // The recorded entries of directory `dir`, sorted by name (empty when
  // the directory was not recorded).
  Status LoadDir(const std::string& dir, std::vector<StateEntry>* entries);
  int64_t directories() const { return static_cast<int64_t>(index_.size()); }
  // Files and symlinks recorded, in all directories.
  int64_t files() const { return files_; }

 private:
  StateReader(FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  Status BuildIndex();
  FILE* file_;
  std::unique_ptr<char[]> buffer_;  // file_'s stdio buffer
  std::string path_;
  std::unordered_map<std::string, long> index_;  // dir -> offset of its first 'E'
  int64_t files_ = 0;
};

class StateWriter {
 public:
  static Result<std::unique_ptr<StateWriter>> Create(const std::string& path);
  ~StateWriter();  // discards the temp file unless Commit() succeeded

  // Writes the recorded entries of one directory (any order of directories;
  // each directory once).
  Status WriteDir(const std::string& dir, std::vector<StateEntry> entries);
  // Replaces or removes single paths before Commit() (operations that failed
  // after their directory was written: the old record, or none, stays).
  void Override(const std::string& dir, const std::string& name, const StateEntry* old_entry);
  // fsync + rename over the final path. Applies overrides.
  Status Commit();

 private:
  StateWriter(std::string path, std::string tmp, FILE* file)
      : path_(std::move(path)), tmp_(std::move(tmp)), file_(file) {}
  Status WriteDirLocked(const std::string& dir, const std::vector<StateEntry>& entries);

  const std::string path_;
  const std::string tmp_;
  std::mutex mu_;
  FILE* file_;  // guarded by mu_
  std::unique_ptr<char[]> buffer_;  // file_'s stdio buffer
  bool committed_ = false;
  // dir -> name -> replacement (nullopt-like: type kOther means "remove").
  std::map<std::string, std::map<std::string, StateEntry>> overrides_;
};

}  // namespace ha_sync::pipeline
