#include "k8s/lease_object.h"

#include <boost/json.hpp>
#include <limits>

namespace ha_sync::k8s {

namespace json = boost::json;

namespace {

std::string MetaString(const json::object& meta, std::string_view key) {
  const json::value* v = meta.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// Reads spec.<key> as int32 the way the server's decoder would accept it.
Status ReadInt(const json::object& spec, std::string_view key, std::optional<int64_t>* out) {
  const json::value* v = spec.if_contains(key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (v->is_int64()) {
    *out = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    *out = static_cast<int64_t>(v->as_uint64());
  } else {
    return Status::Error("Lease spec." + std::string(key) + " is not an integer");
  }
  if (**out < std::numeric_limits<int32_t>::min() || **out > std::numeric_limits<int32_t>::max()) {
    return Status::Error("Lease spec." + std::string(key) + " is out of int32 range");
  }
  return Status::Ok();
}

Status ReadTime(const json::object& spec, std::string_view key, std::optional<WallTime>* out) {
  const json::value* v = spec.if_contains(key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (!v->is_string()) return Status::Error("Lease spec." + std::string(key) + " is not a string");
  *out = ParseMicroTime(v->as_string());
  if (!*out) {
    return Status::Error("Lease spec." + std::string(key) + " '" + std::string(v->as_string()) +
                         "' is not a MicroTime (YYYY-MM-DDTHH:MM:SS.ffffffZ)");
  }
  return Status::Ok();
}

}  // namespace

json::object SpecToJson(const LeaseSpec& spec) {
  json::object out;
  if (spec.holder_identity) out["holderIdentity"] = *spec.holder_identity;
  if (spec.lease_duration_seconds) out["leaseDurationSeconds"] = *spec.lease_duration_seconds;
  if (spec.acquire_time) out["acquireTime"] = FormatMicroTime(*spec.acquire_time);
  if (spec.renew_time) out["renewTime"] = FormatMicroTime(*spec.renew_time);
  if (spec.lease_transitions) out["leaseTransitions"] = *spec.lease_transitions;
  return out;
}

Result<Lease> Lease::Parse(std::string_view body) {
  json::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec) return Status::Error("the API answer is not JSON: " + ec.message());
  if (!parsed.is_object()) return Status::Error("the API answer is not a JSON object");
  Lease lease;
  lease.object_ = std::move(parsed.as_object());
  const json::value* kind = lease.object_.if_contains("kind");
  if (kind == nullptr || !kind->is_string() || kind->as_string() != "Lease") {
    return Status::Error("the API answer is not a Lease object");
  }
  if (const json::value* meta = lease.object_.if_contains("metadata"); meta && meta->is_object()) {
    lease.name_ = MetaString(meta->as_object(), "name");
    lease.uid_ = MetaString(meta->as_object(), "uid");
    lease.resource_version_ = MetaString(meta->as_object(), "resourceVersion");
  }
  if (lease.uid_.empty() || lease.resource_version_.empty()) {
    return Status::Error("the Lease from the API has no metadata.uid or metadata.resourceVersion");
  }
  const json::value* spec_value = lease.object_.if_contains("spec");
  if (spec_value == nullptr || spec_value->is_null()) return lease;
  if (!spec_value->is_object()) return Status::Error("Lease spec is not an object");
  const json::object& spec = spec_value->as_object();
  if (const json::value* h = spec.if_contains("holderIdentity"); h != nullptr && !h->is_null()) {
    if (!h->is_string()) return Status::Error("Lease spec.holderIdentity is not a string");
    lease.spec_.holder_identity = std::string(h->as_string());
  }
  Status s = ReadInt(spec, "leaseDurationSeconds", &lease.spec_.lease_duration_seconds);
  if (s.ok()) s = ReadInt(spec, "leaseTransitions", &lease.spec_.lease_transitions);
  if (s.ok()) s = ReadTime(spec, "acquireTime", &lease.spec_.acquire_time);
  if (s.ok()) s = ReadTime(spec, "renewTime", &lease.spec_.renew_time);
  if (!s.ok()) return s;
  return lease;
}

Lease Lease::ForCreate(const std::string& namespace_name, const std::string& name,
                       const LeaseSpec& spec) {
  Lease lease;
  lease.object_["apiVersion"] = kLeaseApiVersion;
  lease.object_["kind"] = "Lease";
  lease.object_["metadata"] = json::object{{"name", name}, {"namespace", namespace_name}};
  lease.object_["spec"] = SpecToJson(spec);
  lease.spec_ = spec;
  lease.name_ = name;
  return lease;
}

Lease Lease::WithSpec(const LeaseSpec& spec) const {
  Lease out = *this;
  json::value& spec_value = out.object_["spec"];
  if (!spec_value.is_object()) spec_value = json::object();
  json::object& obj = spec_value.as_object();
  for (const char* key :
       {"holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions"}) {
    obj.erase(key);
  }
  for (auto& member : SpecToJson(spec)) obj[member.key()] = member.value();
  out.spec_ = spec;
  return out;
}

std::string Lease::ToJson() const { return json::serialize(object_); }

std::string DeleteOptionsWithPreconditions(const std::string& uid, const std::string& resource_version) {
  json::object body{{"kind", "DeleteOptions"},
                    {"apiVersion", "v1"},
                    {"preconditions", json::object{{"uid", uid}, {"resourceVersion", resource_version}}}};
  return json::serialize(body);
}

}  // namespace ha_sync::k8s
