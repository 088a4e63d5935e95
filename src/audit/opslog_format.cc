#include "audit/opslog_format.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "ha_sync/utc_time.h"
#include "ha_sync/text.h"

namespace ha_sync::audit {
namespace json = boost::json;

namespace {

[[maybe_unused]] json::value OptInt(const std::optional<int64_t>& v) {  // for optional footer fields
  return v ? json::value(*v) : json::value(nullptr);
}
json::value OptStr(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

std::string Serialize(const json::object& obj) { return json::serialize(obj); }

bool GetString(const json::object& obj, const char* key, std::string* out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string()) return false;
  out->assign(v->as_string().data(), v->as_string().size());
  return true;
}

bool GetInt(const json::object& obj, const char* key, int64_t* out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr) return false;
  if (v->is_int64()) { *out = v->as_int64(); return true; }
  if (v->is_uint64()) { *out = static_cast<int64_t>(v->as_uint64()); return true; }
  return false;
}

bool GetOptInt(const json::object& obj, const char* key, std::optional<int64_t>* out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) { out->reset(); return true; }
  int64_t x;
  if (!GetInt(obj, key, &x)) return false;
  *out = x;
  return true;
}

bool GetOptString(const json::object& obj, const char* key, std::optional<std::string>* out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || v->is_null()) { out->reset(); return true; }
  std::string s;
  if (!GetString(obj, key, &s)) return false;
  *out = std::move(s);
  return true;
}

bool GetBool(const json::object& obj, const char* key, bool* out) {
  const auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_bool()) return false;
  *out = v->as_bool();
  return true;
}

bool GetTime(const json::object& obj, const char* key, int64_t* out) {
  std::string s;
  return GetString(obj, key, &s) && ParseUtcMs(s, out);
}

Status Bad(const char* what) { return Status::Error(std::string("opslog line: ") + what); }

}  // namespace

bool ParseUtcMs(const std::string& text, int64_t* ms) { return ParseUtc(text, UtcStyle::kIso, ms); }

std::string FormatHeaderLine(const RunHeader& h) {
  json::object o;
  o["type"] = "header";
  o["format"] = kOpslogFormatVersion;
  o["run_id"] = h.run_id;
  o["pair"] = h.pair;
  o["direction"] = h.direction;
  o["src"] = EncodePathForText(h.src);
  o["dest"] = EncodePathForText(h.dest);
  o["started_at"] = FormatUtcMs(h.started_at_ms);
  o["dry_run"] = h.dry_run;
  if (h.plan_id) o["plan_id"] = *h.plan_id;
  if (h.shard_count > 1) {
    o["run_group"] = h.run_group;
    o["shard_index"] = h.shard_index;
    o["shard_count"] = h.shard_count;
  }
  return Serialize(o);
}

namespace {

// Op and intent lines are written once per operation from the engine's
// workers, so they are built by hand (no JSON object, no allocation per
// member, no snprintf): the same JSON that Serialize() would produce.
void AppendJsonString(std::string* out, std::string_view text) {
  // Valid UTF-8 passes through; other bytes (never in encoded paths, rare in
  // error messages) are escaped for display first, so the line always parses.
  const std::string escaped = IsValidUtf8(text) ? std::string() : EscapeForDisplay(text);
  if (!escaped.empty()) text = escaped;
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c < 0x20) {
      switch (c) {
        case '\n': out->append("\\n"); break;
        case '\t': out->append("\\t"); break;
        case '\r': out->append("\\r"); break;
        default:
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
      }
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

void AppendUtcMs(std::string* out, int64_t ms) {
  out->push_back('"');
  AppendUtc(out, ms, UtcStyle::kIso);
  out->push_back('"');
}

void AppendOptInt(std::string* out, const std::optional<int64_t>& v) {
  if (v) out->append(std::to_string(*v));
  else out->append("null");
}

void AppendOptString(std::string* out, const std::optional<std::string>& v) {
  if (v) AppendJsonString(out, *v);
  else out->append("null");
}

}  // namespace

std::string FormatOpLine(const OpRecord& op) {
  std::string o;
  o.reserve(256 + op.filepath.size() + (op.error_message ? op.error_message->size() : 0));
  o.append("{\"type\":\"op\",\"operation\":\"");
  o.append(ToString(op.operation));
  o.append("\",\"filepath\":");
  AppendJsonString(&o, EncodePathForText(op.filepath));
  o.append(",\"size_before\":");
  AppendOptInt(&o, op.size_before);
  o.append(",\"size_after\":");
  AppendOptInt(&o, op.size_after);
  o.append(",\"md5_before\":");
  AppendOptString(&o, op.md5_before);
  o.append(",\"md5_after\":");
  AppendOptString(&o, op.md5_after);
  o.append(",\"started_at\":");
  AppendUtcMs(&o, op.started_at_ms);
  o.append(",\"ended_at\":");
  if (op.ended_at_ms) AppendUtcMs(&o, *op.ended_at_ms);
  else o.append("null");
  o.append(",\"status\":\"");
  o.append(ToString(op.status));
  o.append("\",\"error_message\":");
  AppendOptString(&o, op.error_message);
  o.append(op.dry_run ? ",\"dry_run\":true" : ",\"dry_run\":false");
  o.append(",\"bytes_transferred\":");
  o.append(std::to_string(op.bytes_transferred));
  o.push_back('}');
  return o;
}

std::string FormatFooterLine(const RunFooter& f) {
  json::object o;
  o["type"] = "footer";
  o["status"] = ToString(f.status);
  o["ended_at"] = FormatUtcMs(f.ended_at_ms);
  o["files_created"] = f.counts.created;
  o["files_updated"] = f.counts.updated;
  o["files_deleted"] = f.counts.deleted;
  o["files_skipped"] = f.counts.skipped;
  o["files_failed"] = f.counts.failed;
  o["total_bytes_transferred"] = f.counts.bytes_transferred;
  o["error_message"] = OptStr(f.error_message);
  o["clock_skew_ns"] = OptInt(f.clock_skew_ns);
  o["mtime_precision_ns"] = OptInt(f.mtime_precision_ns);
  o["files_stale"] = f.counts.stale;
  return Serialize(o);
}

std::string FormatStaleLine(const OpStale& stale) {
  json::object o;
  o["type"] = "stale";
  o["operation"] = ToString(stale.operation);
  o["filepath"] = EncodePathForText(stale.filepath);
  o["reason"] = IsValidUtf8(stale.reason) ? stale.reason : EscapeForDisplay(stale.reason);
  return Serialize(o);
}

std::string FormatIntentLine(const OpRecord& op) {
  std::string o;
  o.reserve(160 + op.filepath.size());
  o.append("{\"type\":\"intent\",\"operation\":\"");
  o.append(ToString(op.operation));
  o.append("\",\"filepath\":");
  AppendJsonString(&o, EncodePathForText(op.filepath));
  o.append(",\"size_before\":");
  AppendOptInt(&o, op.size_before);
  o.append(",\"started_at\":");
  AppendUtcMs(&o, op.started_at_ms);
  o.append(op.dry_run ? ",\"dry_run\":true}" : ",\"dry_run\":false}");
  return o;
}

Result<OpslogLine> ParseOpslogLine(const std::string& line) {
  boost::system::error_code ec;
  // One small arena per line instead of a malloc per member.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  json::value v = json::parse(line, ec, &mr);
  if (ec || !v.is_object()) return Bad("not a JSON object");
  const json::object& o = v.as_object();
  std::string type;
  if (!GetString(o, "type", &type)) return Bad("no type");
  if (type == "header") {
    RunHeader h;
    std::string src, dest;
    if (!GetString(o, "run_id", &h.run_id) || !GetString(o, "pair", &h.pair) ||
        !GetString(o, "direction", &h.direction) || !GetString(o, "src", &src) ||
        !GetString(o, "dest", &dest) || !GetTime(o, "started_at", &h.started_at_ms) ||
        !GetBool(o, "dry_run", &h.dry_run) || !DecodePathFromText(src, &h.src) ||
        !DecodePathFromText(dest, &h.dest)) {
      return Bad("malformed header");
    }
    int64_t plan_id = 0;
    if (GetInt(o, "plan_id", &plan_id)) h.plan_id = plan_id;
    if (o.contains("shard_count")) {  // a shard of a sharded run
      std::optional<int64_t> index, count;
      if (!GetString(o, "run_group", &h.run_group) || !GetOptInt(o, "shard_index", &index) ||
          !GetOptInt(o, "shard_count", &count) || !index || !count || *count < 2 || *index < 0 ||
          *index >= *count || *count > 1000000) {
        return Bad("malformed header");
      }
      h.shard_index = static_cast<int>(*index);
      h.shard_count = static_cast<int>(*count);
    }
    return OpslogLine(std::move(h));
  }
  if (type == "op") {
    OpRecord op;
    std::string kind, status, path;
    int64_t ended;
    if (!GetString(o, "operation", &kind) || !ParseOpKind(kind, &op.operation) ||
        !GetString(o, "filepath", &path) || !DecodePathFromText(path, &op.filepath) ||
        !GetOptInt(o, "size_before", &op.size_before) ||
        !GetOptInt(o, "size_after", &op.size_after) ||
        !GetOptString(o, "md5_before", &op.md5_before) ||
        !GetOptString(o, "md5_after", &op.md5_after) ||
        !GetTime(o, "started_at", &op.started_at_ms) || !GetString(o, "status", &status) ||
        !ParseOpStatus(status, &op.status) ||
        !GetOptString(o, "error_message", &op.error_message) ||
        !GetBool(o, "dry_run", &op.dry_run)) {
      return Bad("malformed op");
    }
    if (GetTime(o, "ended_at", &ended)) op.ended_at_ms = ended;
    GetInt(o, "bytes_transferred", &op.bytes_transferred);
    return OpslogLine(std::move(op));
  }
  if (type == "footer") {
    RunFooter f;
    std::string status;
    if (!GetString(o, "status", &status) || !ParseRunStatus(status, &f.status) ||
        !GetTime(o, "ended_at", &f.ended_at_ms) || !GetInt(o, "files_created", &f.counts.created) ||
        !GetInt(o, "files_updated", &f.counts.updated) ||
        !GetInt(o, "files_deleted", &f.counts.deleted) ||
        !GetInt(o, "files_skipped", &f.counts.skipped) ||
        !GetInt(o, "files_failed", &f.counts.failed) ||
        !GetInt(o, "total_bytes_transferred", &f.counts.bytes_transferred) ||
        !GetOptString(o, "error_message", &f.error_message) ||
        !GetOptInt(o, "clock_skew_ns", &f.clock_skew_ns) ||
        !GetOptInt(o, "mtime_precision_ns", &f.mtime_precision_ns)) {
      return Bad("malformed footer");
    }
    GetInt(o, "files_stale", &f.counts.stale);  // absent before `ha-sync apply` existed
    return OpslogLine(std::move(f));
  }
  if (type == "intent") {
    OpIntent intent;
    std::string kind, path;
    if (!GetString(o, "operation", &kind) || !ParseOpKind(kind, &intent.op.operation) ||
        !GetString(o, "filepath", &path) || !DecodePathFromText(path, &intent.op.filepath) ||
        !GetOptInt(o, "size_before", &intent.op.size_before) ||
        !GetTime(o, "started_at", &intent.op.started_at_ms) ||
        !GetBool(o, "dry_run", &intent.op.dry_run)) {
      return Bad("malformed intent");
    }
    return OpslogLine(std::move(intent));
  }
  if (type == "stale") {
    OpStale stale;
    std::string kind, path;
    if (!GetString(o, "operation", &kind) || !ParseOpKind(kind, &stale.operation) ||
        !GetString(o, "filepath", &path) || !DecodePathFromText(path, &stale.filepath) ||
        !GetString(o, "reason", &stale.reason)) {
      return Bad("malformed stale line");
    }
    return OpslogLine(std::move(stale));
  }
  return Bad("unknown type");
}

}  // namespace ha_sync::audit
