#include "http/dashboard_json.h"

#include "ha_sync/op_record.h"
#include "ha_sync/text.h"

namespace ha_sync::http {

namespace json = boost::json;

namespace {

json::value OptTime(const std::optional<int64_t>& ms) {
  if (!ms) return nullptr;
  return json::value(IsoTime(*ms));
}

json::value OptInt(const std::optional<int64_t>& v) {
  if (!v) return nullptr;
  return json::value(*v);
}

json::value OptText(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return json::value(SafeText(*v));
}

}  // namespace

std::string IsoTime(int64_t ms) { return FormatUtcMs(ms); }

std::string SafeText(const std::string& text) {
  return IsValidUtf8(text) ? text : EscapeForDisplay(text);
}

std::string DisplayPath(const std::string& stored) {
  std::string bytes;
  if (DecodePathFromText(stored, &bytes)) return EscapeForDisplay(bytes);
  return EscapeForDisplay(stored);
}

bool IsConflictCopy(const std::string& stored) {
  return DisplayPath(stored).find(kConflictMarker) != std::string::npos;
}

json::object IterationJson(const IterationView& it) {
  json::object o;
  o["id"] = it.id;
  o["run_id"] = OptText(it.run_id);
  o["pair"] = SafeText(it.pair);
  o["direction"] = SafeText(it.direction);
  o["src"] = SafeText(it.src);
  o["dest"] = SafeText(it.dest);
  o["dry_run"] = it.dry_run;
  o["status"] = SafeText(it.status);
  o["started_at"] = IsoTime(it.started_at_ms);
  o["ended_at"] = OptTime(it.ended_at_ms);
  if (it.ended_at_ms) {
    o["duration_seconds"] = static_cast<double>(*it.ended_at_ms - it.started_at_ms) / 1000.0;
  } else {
    o["duration_seconds"] = nullptr;
  }
  o["files_created"] = it.files_created;
  o["files_updated"] = it.files_updated;
  o["files_deleted"] = it.files_deleted;
  o["files_skipped"] = it.files_skipped;
  o["files_failed"] = it.files_failed;
  o["bytes_transferred"] = it.bytes_transferred;
  o["error_message"] = OptText(it.error_message);
  if (it.clock_skew_ns) {
    o["clock_skew_seconds"] = static_cast<double>(*it.clock_skew_ns) / 1e9;
  } else {
    o["clock_skew_seconds"] = nullptr;
  }
  if (it.mtime_precision_ns) {
    o["mtime_precision_ns"] = *it.mtime_precision_ns;
  } else {
    o["mtime_precision_ns"] = nullptr;
  }
  o["plan_id"] = it.plan_id ? json::value(*it.plan_id) : json::value(nullptr);
  o["files_stale"] = it.files_stale ? json::value(*it.files_stale) : json::value(nullptr);
  o["run_group"] = OptText(it.run_group);
  o["shard_index"] = OptInt(it.shard_index);
  o["shard_count"] = OptInt(it.shard_count);
  if (!it.shards.empty()) {
    json::array shards;
    for (const IterationView& s : it.shards) shards.push_back(IterationJson(s));
    o["shards"] = std::move(shards);
  }
  return o;
}

json::object OperationJson(const OperationRow& op) {
  json::object o;
  o["id"] = op.id;
  o["iteration_id"] = op.iteration_id;
  o["dry_run"] = op.dry_run;
  o["operation"] = SafeText(op.operation);
  o["filepath"] = SafeText(op.filepath);
  o["display_path"] = DisplayPath(op.filepath);
  o["path_encoding"] = op.filepath.rfind("b64:", 0) == 0 ? "base64" : "utf-8";
  o["is_conflict_copy"] = IsConflictCopy(op.filepath);
  o["size_before"] = OptInt(op.size_before);
  o["size_after"] = OptInt(op.size_after);
  o["md5_before"] = OptText(op.md5_before);
  o["md5_after"] = OptText(op.md5_after);
  o["started_at"] = IsoTime(op.started_at_ms);
  o["ended_at"] = OptTime(op.ended_at_ms);
  o["status"] = SafeText(op.status);
  o["error_message"] = OptText(op.error_message);
  return o;
}

}  // namespace ha_sync::http
