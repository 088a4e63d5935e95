#include "audit/opslog_format.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>

#include "audit/civil_time.h"
#include "ha_sync/text.h"

namespace ha_sync::audit {
namespace json = boost::json;

namespace {

json::value OptInt(const std::optional<int64_t>& v) {
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

bool ParseUtcMs(const std::string& text, int64_t* ms) {
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", parsed by hand: this runs for every line of
  // every flushed opslog.
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return false;
  }
  auto num = [&text](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return true;
  };
  int y, mo, d, h, mi, s, frac;
  if (!num(0, 4, &y) || !num(5, 2, &mo) || !num(8, 2, &d) || !num(11, 2, &h) ||
      !num(14, 2, &mi) || !num(17, 2, &s) || !num(20, 3, &frac) || mo < 1 || mo > 12 || d < 1 ||
      d > 31 || h > 23 || mi > 59 || s > 60) {
    return false;
  }
  *ms = (DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000 + frac;
  return true;
}

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
  return Serialize(o);
}

std::string FormatOpLine(const OpRecord& op) {
  json::object o;
  o["type"] = "op";
  o["operation"] = ToString(op.operation);
  o["filepath"] = EncodePathForText(op.filepath);
  o["size_before"] = OptInt(op.size_before);
  o["size_after"] = OptInt(op.size_after);
  o["md5_before"] = OptStr(op.md5_before);
  o["md5_after"] = OptStr(op.md5_after);
  o["started_at"] = FormatUtcMs(op.started_at_ms);
  o["ended_at"] = op.ended_at_ms ? json::value(FormatUtcMs(*op.ended_at_ms)) : json::value(nullptr);
  o["status"] = ToString(op.status);
  o["error_message"] = OptStr(op.error_message);
  o["dry_run"] = op.dry_run;
  o["bytes_transferred"] = op.bytes_transferred;
  return Serialize(o);
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
  return Serialize(o);
}

std::string FormatIntentLine(const OpRecord& op) {
  json::object o;
  o["type"] = "intent";
  o["operation"] = ToString(op.operation);
  o["filepath"] = EncodePathForText(op.filepath);
  o["size_before"] = OptInt(op.size_before);
  o["started_at"] = FormatUtcMs(op.started_at_ms);
  o["dry_run"] = op.dry_run;
  return Serialize(o);
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
  return Bad("unknown type");
}

}  // namespace ha_sync::audit
