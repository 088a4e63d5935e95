#include "k8s/lease_expiry.h"

namespace ha_sync::k8s {

LeaseEvaluation EvaluateLease(const LeaseSpec& spec, const std::string& me, WallTime now,
                              std::chrono::seconds skew_margin) {
  LeaseEvaluation e;
  if (!spec.HasHolder()) {
    e.state = LeaseState::kFree;
    return e;
  }
  if (*spec.holder_identity == me) {
    e.state = LeaseState::kOurs;
    return e;
  }
  if (!spec.renew_time || !spec.lease_duration_seconds || *spec.lease_duration_seconds <= 0) {
    e.state = LeaseState::kExpired;
    return e;
  }
  const WallTime limit =
      *spec.renew_time + std::chrono::seconds(*spec.lease_duration_seconds) + skew_margin;
  e.takeover_after = limit;
  e.state = now > limit ? LeaseState::kExpired : LeaseState::kHeldLive;
  return e;
}

std::string DescribeHolder(const LeaseSpec& spec, const LeaseEvaluation& evaluation) {
  std::string out = "holder '" + spec.holder_identity.value_or("") + "'";
  if (spec.acquire_time) out += " since " + FormatMicroTime(*spec.acquire_time);
  if (spec.renew_time) out += ", last renewed " + FormatMicroTime(*spec.renew_time);
  if (evaluation.takeover_after) {
    out += ", may be taken over after " + FormatMicroTime(*evaluation.takeover_after);
  }
  return out;
}

}  // namespace ha_sync::k8s
