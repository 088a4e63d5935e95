// A coordination.k8s.io/v1 Lease as JSON (Boost.JSON), kept exactly as the
// server sent it. Writes send that object back with only `spec` changed, so
// a PUT always carries metadata.resourceVersion (stale -> 409) and
// metadata.uid (a PUT without uid to a deleted Lease would silently
// re-create it; with the uid it is a 409). Unknown fields anywhere are kept,
// because newer servers add fields. Spec fields are pointers with omitempty
// on the server side: absent stays absent (nullopt), "" is a real value.
//
// Thread-safety: a plain value; copy it between threads.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ha_sync/status.h"
#include "k8s/micro_time.h"

namespace ha_sync::k8s {

constexpr char kLeaseApiVersion[] = "coordination.k8s.io/v1";

struct LeaseSpec {
  std::optional<std::string> holder_identity;
  std::optional<int64_t> lease_duration_seconds;
  std::optional<WallTime> acquire_time;
  std::optional<WallTime> renew_time;
  std::optional<int64_t> lease_transitions;

  // Absent or "" means nobody holds the lease.
  bool HasHolder() const { return holder_identity.has_value() && !holder_identity->empty(); }
};

class Lease {
 public:
  // Parses a server answer. Fails when the body is not a JSON object of kind
  // Lease, or a known spec field has the wrong type or time format.
  static Result<Lease> Parse(std::string_view body);

  // The body of a create (POST): apiVersion, kind, metadata {name,
  // namespace} and the spec; never a resourceVersion (the server answers a
  // create carrying one with 500).
  static Lease ForCreate(const std::string& namespace_name, const std::string& name,
                         const LeaseSpec& spec);

  // This object with spec's known fields set from `spec` (absent fields are
  // removed); metadata and every other member unchanged.
  Lease WithSpec(const LeaseSpec& spec) const;

  std::string ToJson() const;

  const LeaseSpec& spec() const { return spec_; }
  const std::string& name() const { return name_; }
  const std::string& uid() const { return uid_; }
  const std::string& resource_version() const { return resource_version_; }
  const boost::json::object& object() const { return object_; }

 private:
  boost::json::object object_;
  LeaseSpec spec_;
  std::string name_, uid_, resource_version_;
};

// Serialises a spec as the server would (only present fields, MicroTime
// strings). Exposed for tests and the DeleteOptions builder's neighbours.
boost::json::object SpecToJson(const LeaseSpec& spec);

// {"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":..,"resourceVersion":..}}
std::string DeleteOptionsWithPreconditions(const std::string& uid, const std::string& resource_version);

}  // namespace ha_sync::k8s
