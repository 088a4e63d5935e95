// The plan of a dry-run, kept so that exactly that plan can be executed
// later (`ha-sync apply`, docs/cli.md): per planned operation, the state of
// both sides it was computed from (its preconditions). The database keeps
// what the plan is (the dry-run's sync_operations rows); this file keeps
// what it rests on, beside the undo manifests in the log directory:
//   <log-dir>/plans-<pair>/<run-id>.plan.jsonl
// The first line is the header; then one line per operation, in any order:
//   {"type":"plan","format":1,"run_id":..,"pair":..,"direction":..,
//    "src":<encoded>,"dest":<encoded>,"delete_missing":bool,"created_at_ms":N}
//   {"op":"create|update|delete","path":<encoded>,"src":<side>|null,
//    "dest":<side>|null}
//   <side> = {"type":"file|dir|symlink|other","size":N,"mtime_ns":N
//             [,"target":<encoded>]}
// Paths are raw bytes relative to the roots, encoded as in the opslog
// (ha_sync/text.h); null is "missing on that side". A replace (type differs,
// --delete-missing) is a delete and a create of the same path.
//
// The writer builds <name>.tmp and Commit() fsyncs and renames it, so a
// plan file is either complete or absent.
//
// Thread-safety: PlanWriter::Append() may be called from several threads;
// a Plan is immutable once loaded and may be read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "ha_sync/op_record.h"
#include "ha_sync/status.h"
#include "io/dir_entry.h"

namespace ha_sync::pipeline {

// One side of a path as the plan saw it.
struct PlanSide {
  io::FileType type = io::FileType::kFile;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  std::string link_target;  // symlinks only

  static PlanSide Of(const io::Entry& e);
  bool operator==(const PlanSide& o) const {
    return type == o.type && size == o.size && mtime_ns == o.mtime_ns && link_target == o.link_target;
  }
};

struct PlanOp {
  OpKind op = OpKind::kCreate;
  std::string path;  // raw, relative to the roots, no trailing '/'
  std::optional<PlanSide> src;   // nullopt: missing in src
  std::optional<PlanSide> dest;  // nullopt: missing in dest
};

struct PlanHeader {
  std::string run_id;
  std::string pair;
  std::string direction;
  std::string src;
  std::string dest;
  bool delete_missing = false;
  int64_t created_at_ms = 0;
};

// <log_dir>/plans-<pair> and the plan file of one dry-run in it.
std::string PlanDir(const std::string& log_dir, const std::string& pair);
std::string PlanFilePath(const std::string& log_dir, const std::string& pair,
                         const std::string& run_id);

std::string FormatPlanHeader(const PlanHeader& h);
std::string FormatPlanOp(const PlanOp& op);
// False on a line that is not a plan line of this format.
bool ParsePlanHeader(const std::string& line, PlanHeader* h);
bool ParsePlanOp(const std::string& line, PlanOp* op);

// Streams a plan file: its header, then each operation with its line as
// written (for comparing plans in constant memory). An error names the file
// (missing, no header, a malformed line, torn at the end).
Status ReadPlanFile(const std::string& path, PlanHeader* header,
                    const std::function<void(PlanOp op, const std::string& line)>& each);

class Plan {
 public:
  // Reads a whole plan file; an error names the file.
  static Result<std::shared_ptr<const Plan>> Load(const std::string& path);

  const PlanHeader& header() const { return header_; }
  // The planned operation `op` on `path`, or null when the plan has none.
  const PlanOp* Find(const std::string& path, OpKind op) const;
  size_t size() const { return ops_.size(); }

 private:
  PlanHeader header_;
  std::map<std::pair<std::string, int>, PlanOp> ops_;
};

class PlanWriter {
 public:
  // Creates <path>.tmp (and the plans folder) and writes the header.
  static Result<std::unique_ptr<PlanWriter>> Create(const std::string& path,
                                                    const PlanHeader& header);
  ~PlanWriter();  // removes the temp file unless Commit() succeeded
  PlanWriter(const PlanWriter&) = delete;
  PlanWriter& operator=(const PlanWriter&) = delete;

  Status Append(const PlanOp& op);
  // fsync, rename over `path`, fsync the folder.
  Status Commit();
  // Commits under another final name (a dry-run that matched the stored
  // plan refreshes that plan's file, keyed by the stored run's id).
  Status CommitAs(const std::string& path);

 private:
  PlanWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  std::mutex mu_;
  int fd_;  // guarded by mu_
  Status error_;  // the first failed append, guarded by mu_
  bool committed_ = false;
};

// The approval of a plan (`ha-sync approve`): a file beside the plan file,
// `<run_id>.approved`, holding one JSON line (who approved it, and when).
// It is what `ha-sync apply --plan latest-approved` looks for; it approves
// the operations, so it stays valid when an unchanged dry-run refreshes the
// plan file's preconditions.
std::string PlanApprovalPath(const std::string& plan_file_path);
// Written aside, fsynced and renamed into place (with the folder fsynced).
Status WritePlanApproval(const std::string& plan_file_path, const std::string& by, int64_t now_ms);
bool IsPlanApproved(const std::string& plan_file_path);

// Removes plan files of `pair` older than `days` (by mtime), with their
// approvals; returns how many plans.
Result<int64_t> RemoveOldPlans(const std::string& log_dir, const std::string& pair, int64_t days,
                               int64_t now_ms);

}  // namespace ha_sync::pipeline
